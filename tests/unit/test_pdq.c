/* Unit tests for storage/pdq.c (scan and multi-index) against a bit-by-bit reference. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "storage/pdq.h"

/* Deterministic generator (xorshift64*), so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static void rnd_bytes(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(rnd() >> 56);
}

/* Reference distance: one bit at a time, through a byte table (fast enough for the index
 * tests under the sanitizers). */
static int ref_distance(const uint8_t a[32], const uint8_t b[32])
{
    static uint8_t bits[256];
    if (!bits[255])
        for (int v = 0; v < 256; v++)
            for (int i = 0; i < 8; i++)
                bits[v] = (uint8_t)(bits[v] + ((v >> i) & 1));
    int d = 0;
    for (int i = 0; i < 32; i++)
        d += bits[a[i] ^ b[i]];
    return d;
}

/* Copies h with exactly `bits` distinct bits flipped. */
static void flip_bits(uint8_t out[32], const uint8_t h[32], int bits)
{
    memcpy(out, h, 32);
    uint8_t done[256] = {0};
    for (int k = 0; k < bits;) {
        int i = (int)(rnd() % 256);
        if (done[i]) continue;
        done[i] = 1;
        out[i / 8] ^= (uint8_t)(1u << (i % 8));
        k++;
    }
}

static void test_distance(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    memset(a, 0, 32);
    memset(b, 0xff, 32);
    assert_int_equal(store_pdq_distance(a, a), 0);
    assert_int_equal(store_pdq_distance(a, b), 256);
    for (int i = 0; i < 1000; i++) {
        rnd_bytes(a, 32);
        rnd_bytes(b, 32);
        assert_int_equal(store_pdq_distance(a, b), ref_distance(a, b));
    }
    rnd_bytes(a, 32);
    for (int bits = 0; bits <= 256; bits += 17) {
        flip_bits(b, a, bits);
        assert_int_equal(store_pdq_distance(a, b), bits);
    }
}

#define N 3000

struct ent {
    uint8_t h[32];
    uint8_t id[32];
};

static int ref_cmp(const void *x, const void *y)
{
    const struct store_pdq_hit *a = x, *b = y;
    if (a->distance != b->distance) return a->distance < b->distance ? -1 : 1;
    int c = memcmp(a->id, b->id, 32);
    return c ? c : memcmp(a->hash, b->hash, 32); /* one id may hold several hashes */
}

/* Checks a query against brute force over ents[0..n), for radius r and a page of max. */
static void check_query(const struct store_pdq *x, const struct ent *ents, size_t n,
                        const uint8_t q[32], int r, size_t max)
{
    struct store_pdq_hit *want = calloc(n + 1, sizeof(*want));
    struct store_pdq_hit *got = calloc(max + 1, sizeof(*got));
    assert_non_null(want);
    assert_non_null(got);
    size_t nw = 0;
    for (size_t i = 0; i < n; i++) {
        int d = ref_distance(q, ents[i].h);
        if (d > r) continue;
        memcpy(want[nw].id, ents[i].id, 32);
        memcpy(want[nw].hash, ents[i].h, 32);
        want[nw].distance = d;
        nw++;
    }
    qsort(want, nw, sizeof(*want), ref_cmp);
    size_t total = store_pdq_query(x, q, r, got, max);
    assert_int_equal(total, nw);
    size_t shown = nw < max ? nw : max;
    for (size_t i = 0; i < shown; i++) {
        assert_int_equal(got[i].distance, want[i].distance);
        assert_memory_equal(got[i].id, want[i].id, 32);
        assert_memory_equal(got[i].hash, want[i].hash, 32);
    }
    free(want);
    free(got);
}

static void test_query_vs_brute_force(void **state)
{
    (void)state;
    struct ent *ents = calloc(N, sizeof(*ents));
    assert_non_null(ents);
    struct store_pdq *x;
    assert_int_equal(store_pdq_new(&x), 0);
    uint8_t base[32];
    rnd_bytes(base, 32);
    for (size_t i = 0; i < N; i++) {
        /* A third near the base hash, so that radius 31 has hits; the rest random. */
        if (i % 3 == 0)
            flip_bits(ents[i].h, base, (int)(rnd() % 60));
        else
            rnd_bytes(ents[i].h, 32);
        rnd_bytes(ents[i].id, 32);
        assert_int_equal(store_pdq_add(x, ents[i].h, ents[i].id), 0);
    }
    assert_int_equal(store_pdq_count(x), N);

    uint8_t q[32];
    for (int t = 0; t < 5; t++) {
        flip_bits(q, base, t * 3);
        check_query(x, ents, N, q, 0, 10);
        check_query(x, ents, N, q, 31, 10);
        check_query(x, ents, N, q, 31, 1000);
        check_query(x, ents, N, q, 256, 25);
    }
    /* An exact copy is found at radius 0. */
    struct store_pdq_hit h;
    assert_int_equal(store_pdq_query(x, ents[7].h, 0, &h, 1), 1);
    assert_memory_equal(h.id, ents[7].id, 32);
    assert_int_equal(h.distance, 0);
    /* Radius 256 counts everything; max 0 only counts. */
    assert_int_equal(store_pdq_query(x, q, 256, NULL, 0), N);
    store_pdq_free(x);
    free(ents);
}

static void test_ordering_ties_by_id(void **state)
{
    (void)state;
    struct store_pdq *x;
    assert_int_equal(store_pdq_new(&x), 0);
    uint8_t h[32] = {0}, id[32];
    /* Same hash, ids added in descending order: the answer is ascending. */
    for (int i = 5; i >= 1; i--) {
        memset(id, i, 32);
        assert_int_equal(store_pdq_add(x, h, id), 0);
    }
    uint8_t far[32] = {0};
    far[0] = 0x0f;
    memset(id, 0, 32);
    assert_int_equal(store_pdq_add(x, far, id), 0); /* smallest id, but distance 4 */
    struct store_pdq_hit hits[6];
    assert_int_equal(store_pdq_query(x, h, 256, hits, 6), 6);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(hits[i].distance, 0);
        assert_int_equal(hits[i].id[0], i + 1);
    }
    assert_int_equal(hits[5].distance, 4);
    assert_int_equal(hits[5].id[0], 0);
    /* With a page of 2 the best two are kept. */
    assert_int_equal(store_pdq_query(x, h, 256, hits, 2), 6);
    assert_int_equal(hits[0].id[0], 1);
    assert_int_equal(hits[1].id[0], 2);
    store_pdq_free(x);
}

static void test_add_and_remove(void **state)
{
    (void)state;
    struct store_pdq *x;
    assert_int_equal(store_pdq_new(&x), 0);
    uint8_t h1[32], h2[32], h3[32], a[32], b[32];
    rnd_bytes(h1, 32);
    rnd_bytes(h2, 32);
    rnd_bytes(h3, 32);
    memset(a, 0xaa, 32);
    memset(b, 0xbb, 32);
    assert_int_equal(store_pdq_add(x, h1, a), 0);
    assert_int_equal(store_pdq_count(x), 1);
    assert_int_equal(store_pdq_add(x, h2, a), 0); /* one record may carry several hashes */
    assert_int_equal(store_pdq_add(x, h1, b), 0);
    assert_int_equal(store_pdq_add(x, h3, b), 0);
    assert_int_equal(store_pdq_count(x), 4);

    assert_int_equal(store_pdq_remove(x, a), 2);
    assert_int_equal(store_pdq_count(x), 2);
    assert_int_equal(store_pdq_remove(x, a), 0);
    struct store_pdq_hit hit;
    assert_int_equal(store_pdq_query(x, h1, 0, &hit, 1), 1);
    assert_memory_equal(hit.id, b, 32);
    assert_int_equal(store_pdq_query(x, h3, 0, &hit, 1), 1);
    assert_memory_equal(hit.id, b, 32);
    assert_int_equal(store_pdq_query(x, h2, 0, &hit, 1), 0);
    assert_int_equal(store_pdq_remove(x, b), 2);
    assert_int_equal(store_pdq_count(x), 0);
    assert_int_equal(store_pdq_query(x, h1, 256, &hit, 1), 0);

    /* Many adds grow the array; removes in any order keep the rest findable. */
    uint8_t ids[2000][32];
    for (int i = 0; i < 2000; i++) {
        rnd_bytes(ids[i], 32);
        assert_int_equal(store_pdq_add(x, ids[i], ids[i]), 0);
    }
    for (int i = 0; i < 2000; i += 2)
        assert_int_equal(store_pdq_remove(x, ids[i]), 1);
    assert_int_equal(store_pdq_count(x), 1000);
    for (int i = 1; i < 2000; i += 2) {
        assert_int_equal(store_pdq_query(x, ids[i], 0, &hit, 1), 1);
        assert_memory_equal(hit.id, ids[i], 32);
    }
    store_pdq_free(x);
    store_pdq_free(NULL);
}

/* ---- the multi-index (from STORE_PDQ_MIH_MIN entries on) against brute force ---- */

#define BIG (STORE_PDQ_MIH_MIN * 2)

/* Checks every radius in rs for each query: totals, and a full page, against brute force. */
static void check_many(const struct store_pdq *x, const struct ent *ents, size_t n,
                       const uint8_t (*qs)[32], size_t nq, const int *rs, size_t nr)
{
    for (size_t k = 0; k < nq; k++)
        for (size_t i = 0; i < nr; i++)
            check_query(x, ents, n, qs[k], rs[i], 64);
}

/* Random hashes plus, for each query, copies at known distances (incl. r and r + 1). */
static void test_index_random_planted(void **state)
{
    (void)state;
    static const int dists[] = {0, 1, 2, 3, 10, 21, 30, 31, 32, 33, 40, 63, 64, 65};
    const size_t nd = sizeof dists / sizeof dists[0], nq = 8;
    struct ent *ents = calloc(BIG, sizeof *ents);
    uint8_t(*qs)[32] = calloc(nq, 32);
    assert_non_null(ents);
    assert_non_null(qs);
    for (size_t k = 0; k < nq; k++)
        rnd_bytes(qs[k], 32);
    struct store_pdq *x;
    assert_int_equal(store_pdq_new(&x), 0);
    for (size_t i = 0; i < BIG; i++) {
        if (i % 97 == 0 && i / 97 < nq * nd)
            flip_bits(ents[i].h, qs[(i / 97) / nd], dists[(i / 97) % nd]);
        else
            rnd_bytes(ents[i].h, 32);
        rnd_bytes(ents[i].id, 32);
        assert_int_equal(store_pdq_add(x, ents[i].h, ents[i].id), 0);
    }
    static const int rs[] = {0, 1, 10, 11, 21, 31, 32, 33, 42, 63, 64, 100};
    check_many(x, ents, BIG, (const uint8_t(*)[32])qs, nq, rs, sizeof rs / sizeof rs[0]);
    /* Exactly the planted copies within 31 (random hashes are ~128 away). */
    struct store_pdq_hit hits[16];
    assert_int_equal(store_pdq_query(x, qs[3], 31, hits, 16), 8);
    assert_int_equal(hits[7].distance, 31);
    assert_int_equal(store_pdq_query(x, qs[3], 32, hits, 16), 9);
    assert_int_equal(store_pdq_query(x, qs[3], -1, hits, 16), 0);
    assert_int_equal(store_pdq_query(x, qs[3], 1000, NULL, 0), BIG);
    /* The batch answers the same, in both of its modes (tables at 31, a shared scan at 100). */
    size_t totals[12];
    struct store_pdq_hit *pages = calloc(nq * 16, sizeof *pages);
    assert_non_null(pages);
    for (int r = 31; r <= 100; r += 69) {
        assert_int_equal(
            store_pdq_query_batch(x, (const uint8_t(*)[32])qs, nq, r, pages, 16, totals), 0);
        for (size_t k = 0; k < nq; k++) {
            size_t want = store_pdq_query(x, qs[k], r, hits, 16);
            assert_int_equal(totals[k], want);
            for (size_t i = 0; i < (want < 16 ? want : 16); i++) {
                assert_int_equal(pages[k * 16 + i].distance, hits[i].distance);
                assert_memory_equal(pages[k * 16 + i].id, hits[i].id, 32);
            }
        }
    }
    assert_true(store_pdq_memory(x) > BIG * 64);
    free(pages);
    store_pdq_free(x);
    free(qs);
    free(ents);
}

/* Noisy copies of a few centres: many entries share chunks, the hard case for the tables. */
static void test_index_clustered(void **state)
{
    (void)state;
    enum { CENTRES = 40, NQ = 6 };
    uint8_t centres[CENTRES][32], qs[NQ][32];
    for (int c = 0; c < CENTRES; c++)
        rnd_bytes(centres[c], 32);
    struct ent *ents = calloc(BIG, sizeof *ents);
    assert_non_null(ents);
    struct store_pdq *x;
    assert_int_equal(store_pdq_new(&x), 0);
    for (size_t i = 0; i < BIG; i++) {
        flip_bits(ents[i].h, centres[rnd() % CENTRES], (int)(rnd() % 48));
        rnd_bytes(ents[i].id, 32);
        assert_int_equal(store_pdq_add(x, ents[i].h, ents[i].id), 0);
    }
    for (int k = 0; k < NQ; k++)
        flip_bits(qs[k], centres[k], k * 3);
    static const int rs[] = {0, 8, 20, 31, 32, 40};
    check_many(x, ents, BIG, (const uint8_t(*)[32])qs, NQ, rs, sizeof rs / sizeof rs[0]);
    store_pdq_free(x);
    free(ents);
}

/* Thousands of answers to one query: more than the query's set of reported slots holds
 * (storage/pdq.c's RSET / 2), so that the rest are told apart by their first table; each
 * answer is found by several tables and must be counted once. */
static void test_index_many_answers(void **state)
{
    (void)state;
    uint8_t centre[32];
    rnd_bytes(centre, 32);
    struct ent *ents = calloc(BIG, sizeof *ents);
    assert_non_null(ents);
    struct store_pdq *x;
    assert_int_equal(store_pdq_new(&x), 0);
    for (size_t i = 0; i < BIG; i++) {
        if (i % 4 == 0)
            rnd_bytes(ents[i].h, 32);
        else
            flip_bits(ents[i].h, centre, (int)(rnd() % 36));
        rnd_bytes(ents[i].id, 32);
        assert_int_equal(store_pdq_add(x, ents[i].h, ents[i].id), 0);
    }
    /* About 680 copies at each distance: answers below the set's 2,048, about at it, past it
     * and far past it. */
    static const int rs[] = {0, 2, 3, 12, 31, 33};
    check_many(x, ents, BIG, (const uint8_t(*)[32]) & centre, 1, rs, sizeof rs / sizeof rs[0]);
    assert_true(store_pdq_query(x, centre, 31, NULL, 0) > 8000);
    store_pdq_free(x);
    free(ents);
}

/* Adds, removes and re-adds across the table threshold; vpdq-like ids with many entries. */
static void test_index_remove_readd(void **state)
{
    (void)state;
    enum { PER_ID = 50 };
    struct ent *ents = calloc(BIG, sizeof *ents);
    uint8_t *alive = calloc(BIG, 1);
    assert_non_null(ents);
    assert_non_null(alive);
    uint8_t base[32];
    rnd_bytes(base, 32);
    struct store_pdq *x;
    assert_int_equal(store_pdq_new(&x), 0);
    for (size_t i = 0; i < BIG; i++) {
        /* Half near one hash so that queries have many answers; ids shared by PER_ID. */
        if (i % 2)
            flip_bits(ents[i].h, base, (int)(rnd() % 40));
        else
            rnd_bytes(ents[i].h, 32);
        if (i % PER_ID == 0)
            rnd_bytes(ents[i].id, 32);
        else
            memcpy(ents[i].id, ents[i - i % PER_ID].id, 32);
        assert_int_equal(store_pdq_add(x, ents[i].h, ents[i].id), 0);
        alive[i] = 1;
    }
    /* Remove every third id (PER_ID entries each) and some single-entry ones. */
    size_t live = BIG;
    for (size_t i = 0; i + PER_ID <= BIG; i += PER_ID * 3) {
        assert_int_equal(store_pdq_remove(x, ents[i].id), PER_ID);
        assert_int_equal(store_pdq_remove(x, ents[i].id), 0);
        memset(alive + i, 0, PER_ID);
        live -= PER_ID;
    }
    assert_int_equal(store_pdq_count(x), live);
    struct ent *cur = calloc(BIG, sizeof *cur);
    assert_non_null(cur);
    size_t nc = 0;
    for (size_t i = 0; i < BIG; i++)
        if (alive[i]) cur[nc++] = ents[i];
    uint8_t q[32];
    flip_bits(q, base, 5);
    static const int rs[] = {0, 15, 31, 32, 64};
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++)
        check_query(x, cur, nc, q, rs[i], 100);
    check_query(x, cur, nc, cur[nc / 2].h, 31, 100);
    /* Re-add the removed ones: everything is found again. */
    for (size_t i = 0; i < BIG; i++) {
        if (alive[i]) continue;
        assert_int_equal(store_pdq_add(x, ents[i].h, ents[i].id), 0);
    }
    assert_int_equal(store_pdq_count(x), BIG);
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++)
        check_query(x, ents, BIG, q, rs[i], 100);
    /* Remove everything, one id at a time; the index ends empty. */
    for (size_t i = 0; i < BIG; i += PER_ID)
        assert_int_equal(store_pdq_remove(x, ents[i].id), BIG - i < PER_ID ? BIG - i : PER_ID);
    assert_int_equal(store_pdq_count(x), 0);
    assert_int_equal(store_pdq_query(x, q, 256, NULL, 0), 0);
    assert_int_equal(store_pdq_add(x, q, q), 0);
    assert_int_equal(store_pdq_query(x, q, 0, NULL, 0), 1);
    store_pdq_free(x);
    free(cur);
    free(alive);
    free(ents);
}

/* Ties: the same hash under many ids, and one id under many hashes, sort by id then hash. */
static void test_index_ties(void **state)
{
    (void)state;
    struct store_pdq *x;
    assert_int_equal(store_pdq_new(&x), 0);
    assert_int_equal(store_pdq_reserve(x, BIG), 0);
    uint8_t h[32], id[32], other[32];
    rnd_bytes(h, 32);
    for (size_t i = 0; i < BIG - 20; i++) {
        rnd_bytes(other, 32);
        rnd_bytes(id, 32);
        assert_int_equal(store_pdq_add(x, other, id), 0);
    }
    for (int i = 10; i > 0; i--) {
        memset(id, i, 32);
        assert_int_equal(store_pdq_add(x, h, id), 0); /* 10 ids, one hash */
    }
    memset(id, 0, 32);
    for (int i = 0; i < 10; i++) {
        flip_bits(other, h, 2);
        assert_int_equal(store_pdq_add(x, other, id), 0); /* one id, 10 hashes at 2 */
    }
    struct store_pdq_hit hits[20];
    assert_int_equal(store_pdq_query(x, h, 31, hits, 20), 20);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(hits[i].distance, 0);
        assert_int_equal(hits[i].id[0], i + 1);
    }
    for (int i = 10; i < 19; i++) {
        assert_int_equal(hits[i].distance, 2);
        assert_true(memcmp(hits[i].hash, hits[i + 1].hash, 32) < 0);
    }
    assert_int_equal(store_pdq_remove(x, id), 10);
    assert_int_equal(store_pdq_query(x, h, 31, hits, 20), 10);
    store_pdq_free(x);
}

/* 8-byte ids through a bulk load (reserve, then adds: one build), remove by hash and id, and
 * a reserve that overshoots, ended by store_pdq_flush. */
static void test_index_idlen_bulk_remove_hash(void **state)
{
    (void)state;
    struct store_pdq *x;
    assert_int_equal(store_pdq_new_idlen(&x, PROTO_ID_LEN + 1), -EINVAL);
    assert_int_equal(store_pdq_new_idlen(&x, 8), 0);
    struct ent *ents = calloc(BIG, sizeof *ents);
    assert_non_null(ents);
    uint8_t base[32];
    rnd_bytes(base, 32);
    assert_int_equal(store_pdq_reserve(x, BIG), 0);
    for (size_t i = 0; i < BIG; i++) {
        if (i % 3 == 0)
            flip_bits(ents[i].h, base, (int)(rnd() % 40));
        else
            rnd_bytes(ents[i].h, 32);
        rnd_bytes(ents[i].id, 8); /* the rest stays zero, as hits return it */
        if (i % 500 == 7) memcpy(ents[i].h, ents[i - 1].h, 32); /* same hash, other id */
        assert_int_equal(store_pdq_add(x, ents[i].h, ents[i].id), 0);
    }
    uint8_t q[32];
    flip_bits(q, base, 3);
    check_query(x, ents, BIG, q, 31, 100);
    check_query(x, ents, BIG, ents[7].h, 0, 10);
    /* Remove by (hash, id): only that pair goes, even where another id has the same hash. */
    uint8_t wrong[32];
    memcpy(wrong, ents[7].id, 32);
    wrong[0] ^= 1;
    assert_int_equal(store_pdq_remove_hash(x, ents[7].h, wrong), 0);
    size_t n = BIG;
    for (size_t i = 7; i < n; i += 500) {
        assert_int_equal(store_pdq_remove_hash(x, ents[i].h, ents[i].id), 1);
        assert_int_equal(store_pdq_remove_hash(x, ents[i].h, ents[i].id), 0);
        ents[i] = ents[--n];
    }
    assert_int_equal(store_pdq_count(x), n);
    check_query(x, ents, n, q, 31, 100);
    check_query(x, ents, n, ents[6].h, 0, 10);
    /* Remove by id, then add again past the next flush. */
    for (size_t i = 0; i < 100; i++) {
        assert_int_equal(store_pdq_remove(x, ents[i].id), 1);
        ents[i] = ents[--n];
    }
    for (size_t i = 0; i < 100; i++) {
        flip_bits(ents[n].h, base, (int)(rnd() % 32));
        memset(ents[n].id, 0, 32);
        rnd_bytes(ents[n].id, 8);
        assert_int_equal(store_pdq_add(x, ents[n].h, ents[n].id), 0);
        n++;
    }
    check_query(x, ents, n, q, 31, 100);
    store_pdq_free(x);

    /* A reserve for more than arrives: queries scan (still exact) until store_pdq_flush. */
    assert_int_equal(store_pdq_new(&x), 0);
    assert_int_equal(store_pdq_reserve(x, 4 * BIG), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(store_pdq_add(x, ents[i].h, ents[i].id), 0);
    check_query(x, ents, n, q, 31, 100);
    size_t before = store_pdq_memory(x);
    assert_int_equal(store_pdq_flush(x), 0);
    assert_true(store_pdq_memory(x) > before); /* the tables */
    check_query(x, ents, n, q, 31, 100);
    assert_int_equal(store_pdq_remove_hash(x, ents[5].h, ents[5].id), 1);
    uint8_t gone[32];
    memcpy(gone, ents[5].h, 32);
    ents[5] = ents[--n];
    check_query(x, ents, n, gone, 0, 10);
    check_query(x, ents, n, q, 31, 100);
    store_pdq_free(x);
    free(ents);
}

/* Live entries of a test: ents[0..n), removed ones swapped out from the end. */
static void ents_drop(struct ent *ents, size_t *n, size_t i)
{
    ents[i] = ents[--*n];
}

/* The compact tables, the delta and the pending adds together: a bulk load (one build), adds
 * on top (pending, then delta), removes from each part (tombstones in the compact tables,
 * deleted delta cells, dead pending slots), and enough adds and removes to cross both rebuild
 * triggers (the delta past 1/16 of the tables, dead slots past 1/8), checked against brute
 * force at each step; with 32-byte ids, so that the id map must follow the renumbering. */
static void test_index_delta_tombstones(void **state)
{
    (void)state;
    const size_t cap = BIG + BIG / 2;
    struct ent *ents = calloc(cap, sizeof *ents);
    assert_non_null(ents);
    uint8_t base[32], q[32];
    rnd_bytes(base, 32);
    flip_bits(q, base, 4);
    struct store_pdq *x;
    assert_int_equal(store_pdq_new(&x), 0);
    assert_int_equal(store_pdq_reserve(x, BIG), 0);
    size_t n = 0;
    for (; n < BIG; n++) {
        if (n % 4 == 0)
            flip_bits(ents[n].h, base, (int)(rnd() % 40));
        else
            rnd_bytes(ents[n].h, 32);
        rnd_bytes(ents[n].id, 32);
        assert_int_equal(store_pdq_add(x, ents[n].h, ents[n].id), 0);
    }
    size_t built = store_pdq_memory(x);
    static const int rs[] = {0, 7, 20, 31, 32, 45, 64};
    const size_t nr = sizeof rs / sizeof rs[0];
    /* 200 adds: most in the delta, the last few pending. */
    for (size_t k = 0; k < 200; k++, n++) {
        flip_bits(ents[n].h, base, (int)(rnd() % 40));
        rnd_bytes(ents[n].id, 32);
        assert_int_equal(store_pdq_add(x, ents[n].h, ents[n].id), 0);
    }
    assert_true(store_pdq_memory(x) == built); /* the delta was sized at the build */
    for (size_t i = 0; i < nr; i++)
        check_query(x, ents, n, q, rs[i], 100);
    /* Removes from the compact part, the delta and the pending slots; a removed entry is not
     * found again, by id or by hash. */
    for (size_t k = 0; k < 10; k++) {
        size_t i = k < 5 ? k * 4 : n - 1 - (k - 5) * 30;
        uint8_t h[32], id[32];
        memcpy(h, ents[i].h, 32);
        memcpy(id, ents[i].id, 32);
        if (k % 2)
            assert_int_equal(store_pdq_remove(x, id), 1);
        else
            assert_int_equal(store_pdq_remove_hash(x, h, id), 1);
        assert_int_equal(store_pdq_remove(x, id), 0);
        assert_int_equal(store_pdq_remove_hash(x, h, id), 0);
        ents_drop(ents, &n, i);
    }
    assert_int_equal(store_pdq_count(x), n);
    for (size_t i = 0; i < nr; i++)
        check_query(x, ents, n, q, rs[i], 100);
    /* Adds past the delta's share (BIG / 16): a rebuild, with dead slots squeezed out. */
    for (size_t k = 0; k < BIG / 16 + 100; k++) {
        flip_bits(ents[n].h, base, (int)(rnd() % 40));
        rnd_bytes(ents[n].id, 32);
        assert_int_equal(store_pdq_add(x, ents[n].h, ents[n].id), 0);
        n++;
        if (k % 500 == 0) check_query(x, ents, n, q, 31, 100);
    }
    assert_int_equal(store_pdq_count(x), n);
    for (size_t i = 0; i < nr; i++)
        check_query(x, ents, n, q, rs[i], 100);
    /* The id map follows the new slot numbers: every id is still found. */
    for (size_t i = 0; i < n; i += 997) {
        struct store_pdq_hit hit;
        assert_true(store_pdq_query(x, ents[i].h, 0, &hit, 1) >= 1);
        assert_int_equal(store_pdq_remove(x, ents[i].id), 1);
        ents_drop(ents, &n, i);
    }
    /* Removes past the dead share (1/8): a rebuild in the middle of removing. */
    for (size_t k = 0; k < BIG / 7; k++) {
        size_t i = (size_t)(rnd() % n);
        if (k % 3 == 0)
            assert_int_equal(store_pdq_remove_hash(x, ents[i].h, ents[i].id), 1);
        else
            assert_int_equal(store_pdq_remove(x, ents[i].id), 1);
        ents_drop(ents, &n, i);
        if (k % 1000 == 0) check_query(x, ents, n, q, 31, 100);
    }
    assert_int_equal(store_pdq_count(x), n);
    for (size_t i = 0; i < nr; i++)
        check_query(x, ents, n, q, rs[i], 100);
    check_query(x, ents, n, ents[n / 3].h, 31, 100);
    /* Down below the table threshold and back. */
    while (n > STORE_PDQ_MIH_MIN / 2) {
        assert_int_equal(store_pdq_remove(x, ents[n - 1].id), 1);
        n--;
    }
    assert_int_equal(store_pdq_count(x), n);
    check_query(x, ents, n, q, 31, 100);
    check_query(x, ents, n, q, 300, 10);
    store_pdq_free(x);
    free(ents);
}

/* Hashes only (id_len 0): no ids in hits, duplicates of a hash kept apart, remove_hash takes
 * one copy at a time, remove by id finds nothing; scan, compact tables, delta and rebuilds. */
static void test_index_idless(void **state)
{
    (void)state;
    const size_t cap = BIG + BIG / 4;
    struct ent *ents = calloc(cap, sizeof *ents); /* ids stay zero, as hits return them */
    assert_non_null(ents);
    uint8_t base[32], q[32];
    rnd_bytes(base, 32);
    flip_bits(q, base, 2);
    struct store_pdq *x;
    assert_int_equal(store_pdq_new_idlen(&x, 0), 0);
    size_t n = 0;
    struct store_pdq_hit hits[4];
    for (int phase = 0; phase < 2; phase++) {
        size_t to = phase == 0 ? 1000 : BIG + BIG / 8;
        for (; n < to; n++) {
            if (n % 50 == 7)
                memcpy(ents[n].h, ents[n - 1].h, 32); /* a duplicate */
            else if (n % 3 == 0)
                flip_bits(ents[n].h, base, (int)(rnd() % 40));
            else
                rnd_bytes(ents[n].h, 32);
            assert_int_equal(store_pdq_add(x, ents[n].h, NULL), 0);
        }
        assert_int_equal(store_pdq_count(x), n);
        check_query(x, ents, n, q, 31, 100);
        check_query(x, ents, n, q, 0, 10);
        /* The duplicate pair at pair - 1 and pair: two hits, then one, then none. */
        size_t pair = phase == 0 ? 57 : 1007;
        check_query(x, ents, n, ents[pair].h, 0, 10);
        uint8_t dup[32];
        memcpy(dup, ents[pair].h, 32);
        assert_int_equal(store_pdq_query(x, dup, 0, hits, 4), 2);
        uint8_t zero[32] = {0};
        assert_memory_equal(hits[0].id, zero, 32);
        assert_memory_equal(hits[0].hash, dup, 32);
        assert_int_equal(store_pdq_remove(x, zero), 0);
        assert_int_equal(store_pdq_remove_hash(x, dup, NULL), 1);
        assert_int_equal(store_pdq_query(x, dup, 0, hits, 4), 1);
        assert_int_equal(store_pdq_remove_hash(x, dup, zero), 1);
        assert_int_equal(store_pdq_query(x, dup, 0, hits, 4), 0);
        assert_int_equal(store_pdq_remove_hash(x, dup, NULL), 0);
        ents_drop(ents, &n, pair);
        ents_drop(ents, &n, pair - 1);
        /* Put them back for the next phase (the index keeps no order). */
        for (int k = 0; k < 2; k++) {
            memcpy(ents[n].h, dup, 32);
            assert_int_equal(store_pdq_add(x, dup, NULL), 0);
            n++;
        }
        assert_int_equal(store_pdq_query(x, dup, 0, hits, 4), 2);
        check_query(x, ents, n, q, 31, 100);
    }
    /* Remove a third by hash (dead slots pass 1/8: a rebuild on the way), then check. */
    for (size_t k = 0; k < n / 3; k++) {
        size_t i = (size_t)(rnd() % n);
        assert_int_equal(store_pdq_remove_hash(x, ents[i].h, NULL), 1);
        ents_drop(ents, &n, i);
    }
    assert_int_equal(store_pdq_count(x), n);
    static const int rs[] = {0, 10, 31, 32, 63, 64, 256};
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++)
        check_query(x, ents, n, q, rs[i], 100);
    store_pdq_free(x);
    /* Less memory than with 8-byte ids for the same hashes (the ids and the id map). */
    struct store_pdq *y;
    assert_int_equal(store_pdq_new_idlen(&x, 0), 0);
    assert_int_equal(store_pdq_new_idlen(&y, 8), 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(store_pdq_add(x, ents[i].h, NULL), 0);
        assert_int_equal(store_pdq_add(y, ents[i].h, ents[i].id), 0);
    }
    assert_int_equal(store_pdq_flush(x), 0);
    assert_int_equal(store_pdq_flush(y), 0);
    assert_true(store_pdq_memory(x) + n * 12 <= store_pdq_memory(y));
    check_query(x, ents, n, q, 31, 100);
    store_pdq_free(y);
    store_pdq_free(x);
    free(ents);
}

/* ---- maintenance by jobs (store_pdq_set_async): prepared on another thread, committed ---- */

static void *job_thread(void *arg)
{
    store_pdq_job_run(arg);
    return NULL;
}

/* One change by the owner: an add (a hash near base or clustered around it, or a random one)
 * or a remove (by hash, or by id when the index has ids) of a random live entry. */
static void jobs_op(struct store_pdq *x, struct ent *ents, size_t *n, size_t idlen,
                    const uint8_t base[32], int removes, int clustered)
{
    if (rnd() % 100 < (uint64_t)removes && *n > 0) {
        size_t i = (size_t)(rnd() % *n);
        if (idlen && rnd() % 2)
            assert_int_equal(store_pdq_remove(x, ents[i].id), 1);
        else
            assert_int_equal(store_pdq_remove_hash(x, ents[i].h, idlen ? ents[i].id : NULL), 1);
        ents_drop(ents, n, i);
        return;
    }
    struct ent *e = &ents[(*n)++];
    memset(e, 0, sizeof *e);
    if (clustered || rnd() % 4 == 0)
        flip_bits(e->h, base, (int)(rnd() % 44));
    else
        rnd_bytes(e->h, 32);
    if (idlen) rnd_bytes(e->id, idlen);
    assert_int_equal(store_pdq_add(x, e->h, e->id), 0);
}

/*
 * Adds and removes with jobs while they run: each job is begun, run on a second thread while
 * the owner adds, removes and queries (every answer checked against brute force: what was
 * added before and during the job is found, what was removed is not), then committed, and
 * everything checked again. Adds first (the arrays grow, tables are rebuilt one by one), then
 * removes (dead slots past 1/8: the full rebuild), then adds again.
 */
static void jobs_scenario(size_t idlen, int clustered)
{
    const size_t cap = 4 * BIG;
    struct ent *ents = calloc(cap, sizeof *ents);
    assert_non_null(ents);
    uint8_t base[32], q[32];
    rnd_bytes(base, 32);
    flip_bits(q, base, 3);
    struct store_pdq *x;
    assert_int_equal(store_pdq_new_idlen(&x, idlen), 0);
    assert_int_equal(store_pdq_reserve(x, BIG), 0);
    size_t n = 0;
    while (n < BIG)
        jobs_op(x, ents, &n, idlen, base, 0, clustered);
    store_pdq_set_async(x, 1);
    int seen_table = 0, seen_grow = 0, seen_full = 0, jobs = 0, removes = 10;
    for (size_t op = 0; op < 2 * BIG && jobs < 40; op++) {
        if (seen_table && seen_grow && !seen_full) removes = 90; /* towards the full rebuild */
        if (seen_full) removes = 10;
        jobs_op(x, ents, &n, idlen, base, removes, clustered);
        struct store_pdq_job *j;
        assert_int_equal(store_pdq_job_begin(x, &j), 0);
        if (!j) continue;
        jobs++;
        const char *name = store_pdq_job_name(j);
        seen_table |= !strcmp(name, "table");
        seen_grow |= !strcmp(name, "grow");
        seen_full |= !strcmp(name, "full");
        struct store_pdq_job *again;
        assert_int_equal(store_pdq_job_begin(x, &again), 0);
        assert_null(again); /* one job at a time */
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, job_thread, j), 0);
        for (int k = 0; k < 300; k++) {
            jobs_op(x, ents, &n, idlen, base, removes, clustered);
            if (k % 100 == 99) check_query(x, ents, n, q, 31, 50);
        }
        pthread_join(th, NULL);
        /* Run, not committed yet (the node waits for its readers): still exact. */
        for (int k = 0; k < 100; k++)
            jobs_op(x, ents, &n, idlen, base, removes, clustered);
        check_query(x, ents, n, q, 31, 50);
        assert_int_equal(store_pdq_job_commit(x, j), 0);
        store_pdq_job_free(j);
        assert_int_equal(store_pdq_count(x), n);
        check_query(x, ents, n, q, 31, 50);
        check_query(x, ents, n, ents[rnd() % n].h, 20, 50);
    }
    assert_true(seen_table && seen_grow && seen_full);
    /* After the last commit: every radius, several queries, and removes still find their
     * entries (the id map and the tables follow the renumbering of the full rebuild). */
    static const int rs[] = {0, 8, 31, 32, 64, 256};
    uint8_t qs[4][32];
    memcpy(qs[0], q, 32);
    for (int k = 1; k < 4; k++)
        flip_bits(qs[k], ents[rnd() % n].h, k * 5);
    check_many(x, ents, n, (const uint8_t(*)[32])qs, 4, rs, sizeof rs / sizeof rs[0]);
    for (int k = 0; k < 200; k++)
        jobs_op(x, ents, &n, idlen, base, 100, clustered);
    assert_int_equal(store_pdq_count(x), n);
    check_query(x, ents, n, q, 31, 100);
    /* The synchronous path: whatever is due, done on this thread. */
    assert_int_equal(store_pdq_maintain(x), 0);
    struct store_pdq_job *j;
    assert_int_equal(store_pdq_job_begin(x, &j), 0);
    assert_null(j);
    check_query(x, ents, n, q, 31, 100);
    store_pdq_free(x);
    free(ents);
}

static void test_index_jobs_random_ids(void **state)
{
    (void)state;
    jobs_scenario(32, 0);
}

static void test_index_jobs_clustered_idless(void **state)
{
    (void)state;
    jobs_scenario(0, 1);
}

/* A job dropped (begun, never run or not wanted) leaves the index as it was; so does one
 * dropped after its run; a job is only begun when something is due. */
static void test_index_job_drop(void **state)
{
    (void)state;
    struct ent *ents = calloc(2 * BIG, sizeof *ents);
    assert_non_null(ents);
    uint8_t base[32];
    rnd_bytes(base, 32);
    struct store_pdq *x;
    assert_int_equal(store_pdq_new_idlen(&x, 8), 0);
    size_t n = 0;
    struct store_pdq_job *j;
    while (n < STORE_PDQ_MIH_MIN / 2)
        jobs_op(x, ents, &n, 8, base, 0, 0);
    assert_int_equal(store_pdq_job_begin(x, &j), 0);
    assert_null(j); /* no tables yet: nothing for a job */
    store_pdq_set_async(x, 1);
    while (n < BIG)
        jobs_op(x, ents, &n, 8, base, 0, 0); /* the first build happens here, at once */
    for (int round = 0; round < 2; round++) {
        assert_int_equal(store_pdq_job_begin(x, &j), 0);
        assert_non_null(j);
        if (round) store_pdq_job_run(j);
        jobs_op(x, ents, &n, 8, base, 50, 0);
        store_pdq_job_drop(x, j);
        check_query(x, ents, n, base, 31, 100);
    }
    assert_int_equal(store_pdq_maintain(x), 0);
    check_query(x, ents, n, base, 31, 100);
    store_pdq_free(x);
    free(ents);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distance),
        cmocka_unit_test(test_query_vs_brute_force),
        cmocka_unit_test(test_ordering_ties_by_id),
        cmocka_unit_test(test_add_and_remove),
        cmocka_unit_test(test_index_random_planted),
        cmocka_unit_test(test_index_clustered),
        cmocka_unit_test(test_index_many_answers),
        cmocka_unit_test(test_index_remove_readd),
        cmocka_unit_test(test_index_ties),
        cmocka_unit_test(test_index_idlen_bulk_remove_hash),
        cmocka_unit_test(test_index_delta_tombstones),
        cmocka_unit_test(test_index_idless),
        cmocka_unit_test(test_index_jobs_random_ids),
        cmocka_unit_test(test_index_jobs_clustered_idless),
        cmocka_unit_test(test_index_job_drop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
