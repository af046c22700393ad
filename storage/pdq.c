/*
 * PDQ similarity index: a packed array scanned linearly with hardware popcount.
 *
 * Each entry keeps the hash as four native uint64_t words (so the scan is four XOR + POPCNT
 * per entry, with no byte shuffling) next to the record id. At 10M entries a scan costs about
 * 34 ms on one core (docs/performance.md); a multi-index structure can replace this behind
 * the same API when that is too slow.
 */
#include "storage/pdq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct pdq_entry {
    uint64_t w[4];
    uint8_t id[PROTO_ID_LEN];
};

struct store_pdq {
    struct pdq_entry *v;
    size_t n;
    size_t cap;
};

/* The words are loaded with memcpy: the distance does not depend on byte order as long as
 * both sides are loaded the same way, and memcpy avoids unaligned access. */
static void pdq_load(uint64_t w[4], const uint8_t h[32])
{
    memcpy(w, h, 32);
}

static int pdq_dist_words(const uint64_t a[4], const uint64_t b[4])
{
    return __builtin_popcountll(a[0] ^ b[0]) + __builtin_popcountll(a[1] ^ b[1]) +
           __builtin_popcountll(a[2] ^ b[2]) + __builtin_popcountll(a[3] ^ b[3]);
}

int store_pdq_distance(const uint8_t a[static 32], const uint8_t b[static 32])
{
    uint64_t wa[4], wb[4];
    pdq_load(wa, a);
    pdq_load(wb, b);
    return pdq_dist_words(wa, wb);
}

int store_pdq_new(struct store_pdq **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

void store_pdq_free(struct store_pdq *x)
{
    if (!x) return;
    free(x->v);
    free(x);
}

size_t store_pdq_count(const struct store_pdq *x)
{
    return x->n;
}

int store_pdq_add(struct store_pdq *x, const uint8_t hash[static 32],
                  const uint8_t id[static PROTO_ID_LEN])
{
    struct pdq_entry e;
    pdq_load(e.w, hash);
    memcpy(e.id, id, PROTO_ID_LEN);
    /* No duplicate check: a scan here made building the index quadratic (500k hashes took
     * minutes); the node adds each record exactly once. */
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 1024;
        if (cap > SIZE_MAX / sizeof(*x->v)) return -ENOMEM;
        struct pdq_entry *v = realloc(x->v, cap * sizeof(*v));
        if (!v) return -ENOMEM;
        x->v = v;
        x->cap = cap;
    }
    x->v[x->n++] = e;
    return 0;
}

size_t store_pdq_remove(struct store_pdq *x, const uint8_t id[static PROTO_ID_LEN])
{
    size_t removed = 0;
    for (size_t i = 0; i < x->n;) {
        if (memcmp(x->v[i].id, id, PROTO_ID_LEN) == 0) {
            /* Swap-remove: order in the array carries no meaning. Re-check slot i, which now
             * holds what was the last entry. */
            x->v[i] = x->v[--x->n];
            removed++;
        } else {
            i++;
        }
    }
    return removed;
}

static int hit_cmp(const struct store_pdq_hit *a, const struct store_pdq_hit *b)
{
    if (a->distance != b->distance) return a->distance < b->distance ? -1 : 1;
    return memcmp(a->id, b->id, PROTO_ID_LEN);
}

/* Inserts h into the sorted array hits[0..*n) of capacity max, dropping the worst if full. */
static void hits_insert(struct store_pdq_hit *hits, size_t max, size_t *n,
                        const struct store_pdq_hit *h)
{
    if (*n == max && hit_cmp(h, &hits[max - 1]) >= 0) return;
    size_t i = *n < max ? (*n)++ : max - 1;
    while (i > 0 && hit_cmp(h, &hits[i - 1]) < 0) {
        hits[i] = hits[i - 1];
        i--;
    }
    hits[i] = *h;
}

size_t store_pdq_query(const struct store_pdq *x, const uint8_t q[static 32], int max_distance,
                       struct store_pdq_hit *hits, size_t max)
{
    uint64_t qw[4];
    pdq_load(qw, q);
    size_t total = 0, kept = 0;
    /* Keep the best `max` by insertion into a sorted array: max is small (an API page), and
     * this needs no allocation and no second pass. */
    for (size_t i = 0; i < x->n; i++) {
        int d = pdq_dist_words(qw, x->v[i].w);
        if (d > max_distance) continue;
        total++;
        if (max == 0) continue;
        struct store_pdq_hit h;
        memcpy(h.id, x->v[i].id, PROTO_ID_LEN);
        memcpy(h.hash, x->v[i].w, 32);
        h.distance = d;
        hits_insert(hits, max, &kept, &h);
    }
    return total;
}
