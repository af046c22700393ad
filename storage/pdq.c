/*
 * PDQ similarity index: multi-index hashing over a dense array of hashes, with a linear scan
 * for small sets and for radii where the tables cost more than a scan (docs/matching.md).
 *
 * Entries live in dense slots 0..n-1 (hash as four native words, id, id-chain link); a remove
 * moves the last slot into the hole, so a scan never meets a dead slot.
 *
 * The 256 bits are cut into M = 11 chunks (three of 24 bits, eight of 23). For a radius r the
 * generalised pigeonhole principle gives each chunk a probe radius t_i with
 * sum(t_i + 1) = r + 1: if every chunk differed in more than t_i bits the whole hash would
 * differ in more than r. So an entry within r of q has some chunk i within t_i of q's chunk i,
 * and probing table i at t_i for every i finds it. For r = 31 that is ten chunks at 2 and one
 * at 1. A candidate is reported by the first table that can see it (the lowest i with the
 * chunk within t_i), so the answer holds each entry once without a set.
 *
 * Table i has 2^p buckets addressed by the low p bits of chunk i; each bucket is a run of
 * 32-bit words holding the chunk's other bits (the residual) above the slot number. A probe
 * enumerates the buckets within k <= t_i flips of q's low bits and keeps the words whose
 * residual is within t_i - k of q's, so only true chunk matches reach the hash array. p grows
 * with n (buckets average 16-64 words), and because n <= 2^(p+6) the slot always fits in the
 * 8 + p bits that a 24-bit chunk leaves.
 */
#include "storage/pdq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define M 11
#define P_MIN 8
#define P_MAX 22
#define NONE UINT32_MAX
/* Entries beyond this would not fit the slot bits at P_MAX. */
#define SLOTS_MAX (1u << 30)

static const uint8_t CH_START[M] = {0, 24, 48, 72, 95, 118, 141, 164, 187, 210, 233};
static const uint8_t CH_BITS[M] = {24, 24, 24, 23, 23, 23, 23, 23, 23, 23, 23};

/*
 * A table: dir[b] is the arena offset of bucket b's run; a run is two header words (count,
 * capacity) followed by its words, so a probe reads the small directory and then one run.
 */
struct table {
    uint32_t *dir; /* 2^p offsets */
    uint32_t *e;   /* arena: runs, and holes left by runs that moved on growing */
    size_t used;   /* arena words handed out (live runs and holes) */
    size_t cap;
    size_t garbage; /* words in holes */
    int sb;         /* slot bits: a word is residual << sb | slot */
};
#define HDR 2

struct store_pdq {
    uint64_t (*h)[4];
    uint8_t (*id)[PROTO_ID_LEN];
    uint32_t *next; /* next slot with the same id, NONE at the end */
    size_t n, cap;
    size_t hcap, idncap, nextcap; /* each array's; cap is the least */
    uint32_t *idmap; /* linear probing: the head slot of each id's chain, NONE if empty */
    size_t idcap, nid;
    int p; /* 0 while there are no tables */
    struct table t[M];
};

/*
 * Arrays of a megabyte or more are mapped directly: mremap grows them without copying, they
 * start page-aligned (so a 32-byte hash never straddles two cache lines), and they can ask for
 * huge pages, which save a TLB miss on most of the index's scattered reads where the kernel
 * gives them (transparent_hugepage=madvise). Smaller ones use malloc, where the sanitizers
 * watch them.
 */
#define BIG ((size_t)1 << 20)

static void *arr_resize(void *p, size_t old, size_t count, size_t size)
{
    if (count > SIZE_MAX / size) return NULL;
    size_t bytes = count * size;
    void *q;
    if (bytes < BIG) {
        if (old < BIG) return realloc(p, bytes);
        q = malloc(bytes);
        if (!q) return NULL;
        memcpy(q, p, bytes);
        munmap(p, old);
        return q;
    }
    if (old >= BIG && p) {
        q = mremap(p, old, bytes, MREMAP_MAYMOVE);
        if (q == MAP_FAILED) return NULL;
    } else {
        q = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (q == MAP_FAILED) return NULL;
        if (p) memcpy(q, p, old < bytes ? old : bytes);
        free(p);
    }
    (void)madvise(q, bytes, MADV_HUGEPAGE);
    return q;
}

static void arr_free(void *p, size_t bytes)
{
    if (!p) return;
    if (bytes >= BIG)
        munmap(p, bytes);
    else
        free(p);
}

static void pdq_load(uint64_t w[4], const uint8_t h[32])
{
    memcpy(w, h, 32);
}

static int dist_words(const uint64_t a[4], const uint64_t b[4])
{
    return __builtin_popcountll(a[0] ^ b[0]) + __builtin_popcountll(a[1] ^ b[1]) +
           __builtin_popcountll(a[2] ^ b[2]) + __builtin_popcountll(a[3] ^ b[3]);
}

int store_pdq_distance(const uint8_t a[static 32], const uint8_t b[static 32])
{
    uint64_t wa[4], wb[4];
    pdq_load(wa, a);
    pdq_load(wb, b);
    return dist_words(wa, wb);
}

static uint32_t chunk(const uint64_t w[4], int i)
{
    int s = CH_START[i], k = s >> 6, o = s & 63;
    uint64_t v = w[k] >> o;
    if (o + CH_BITS[i] > 64) v |= w[k + 1] << (64 - o);
    return (uint32_t)(v & ((1ull << CH_BITS[i]) - 1));
}

/* ---- id map ---- */

static size_t id_home(const struct store_pdq *x, const uint8_t id[PROTO_ID_LEN])
{
    uint64_t v;
    memcpy(&v, id, 8);
    /* Ids are digests; the multiply spreads them anyway so that the table does not depend
     * on that. */
    v *= 0x9e3779b97f4a7c15ull;
    return (size_t)(v >> 32) & (x->idcap - 1);
}

/* The position of id's head in the map, or of the empty cell where it would go. */
static size_t id_find(const struct store_pdq *x, const uint8_t id[PROTO_ID_LEN])
{
    size_t i = id_home(x, id);
    while (x->idmap[i] != NONE && memcmp(x->id[x->idmap[i]], id, PROTO_ID_LEN) != 0)
        i = (i + 1) & (x->idcap - 1);
    return i;
}

static int idmap_reserve(struct store_pdq *x, size_t nid)
{
    if (nid * 10 <= x->idcap * 7) return 0;
    size_t cap = x->idcap ? x->idcap : 1024;
    while (nid * 10 > cap * 7)
        cap *= 2;
    uint32_t *m = arr_resize(NULL, 0, cap, sizeof *m);
    if (!m) return -ENOMEM;
    memset(m, 0xff, cap * sizeof *m);
    uint32_t *old = x->idmap;
    size_t oldcap = x->idcap;
    x->idmap = m;
    x->idcap = cap;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i] == NONE) continue;
        size_t j = id_home(x, x->id[old[i]]);
        while (m[j] != NONE)
            j = (j + 1) & (cap - 1);
        m[j] = old[i];
    }
    arr_free(old, oldcap * sizeof *old);
    return 0;
}

/* Empties cell i, shifting later cells of its run back so that no search stops early. */
static void idmap_delete(struct store_pdq *x, size_t i)
{
    size_t mask = x->idcap - 1;
    for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
        if (x->idmap[j] == NONE) break;
        size_t k = id_home(x, x->id[x->idmap[j]]);
        /* The entry at j may move to i unless its home lies cyclically in (i, j]. */
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays) continue;
        x->idmap[i] = x->idmap[j];
        i = j;
    }
    x->idmap[i] = NONE;
    x->nid--;
}

/* ---- tables ---- */

static uint32_t bucket_of(const struct store_pdq *x, const uint64_t w[4], int i, uint32_t *word,
                          uint32_t slot)
{
    uint32_t c = chunk(w, i);
    *word = (c >> x->p) << x->t[i].sb | slot;
    return c & ((1u << x->p) - 1);
}

static void table_free(struct table *t, int p)
{
    arr_free(t->dir, ((size_t)1 << p) * sizeof *t->dir);
    arr_free(t->e, t->cap * sizeof *t->e);
    memset(t, 0, sizeof *t);
}

static void tables_free(struct store_pdq *x)
{
    for (int i = 0; i < M; i++)
        table_free(&x->t[i], x->p);
    x->p = 0;
}

/* Room in a run after a build or compaction: absorbs growth without moving. */
static uint32_t run_cap(uint32_t n)
{
    return n + (n >> 3) + 1;
}

/* Lays out runs for the counts in dir (replaced by offsets) in a fresh arena. */
static int table_layout(struct table *t, size_t nb)
{
    size_t off = 0;
    for (size_t b = 0; b < nb; b++)
        off += HDR + run_cap(t->dir[b]);
    size_t cap = off + off / 16 + 1024;
    if (cap > UINT32_MAX) return -ENOMEM;
    t->e = arr_resize(NULL, 0, cap, sizeof *t->e);
    if (!t->e) return -ENOMEM;
    t->cap = cap;
    t->used = off;
    t->garbage = 0;
    off = 0;
    for (size_t b = 0; b < nb; b++) {
        uint32_t n = t->dir[b];
        t->dir[b] = (uint32_t)off;
        t->e[off] = 0;
        t->e[off + 1] = run_cap(n);
        off += HDR + run_cap(n);
    }
    return 0;
}

/* Builds table i for slots 0..nslots-1 with 2^p buckets by counting sort. */
static int table_build(struct store_pdq *x, int i, int p, size_t nslots, struct table *out)
{
    struct table t = {0};
    size_t nb = (size_t)1 << p;
    t.sb = 32 - (CH_BITS[i] - p);
    t.dir = arr_resize(NULL, 0, nb, sizeof *t.dir);
    if (!t.dir) return -ENOMEM;
    memset(t.dir, 0, nb * sizeof *t.dir);
    uint32_t pmask = (uint32_t)nb - 1;
    for (size_t s = 0; s < nslots; s++)
        t.dir[chunk(x->h[s], i) & pmask]++;
    if (table_layout(&t, nb) != 0) {
        arr_free(t.dir, nb * sizeof *t.dir);
        return -ENOMEM;
    }
    for (size_t s = 0; s < nslots; s++) {
        uint32_t c = chunk(x->h[s], i);
        uint32_t *run = t.e + t.dir[c & pmask];
        run[HDR + run[0]++] = (c >> p) << t.sb | (uint32_t)s;
    }
    *out = t;
    return 0;
}

/* Rebuilds every table with 2^p buckets, one at a time (so the old and new copies of only one
 * table coexist); on failure drops them all, and queries scan. */
static int tables_build(struct store_pdq *x, int p, size_t nslots)
{
    for (int i = 0; i < M; i++) {
        struct table t;
        if (table_build(x, i, p, nslots, &t) != 0) {
            tables_free(x);
            return -ENOMEM;
        }
        table_free(&x->t[i], x->p);
        x->t[i] = t;
    }
    x->p = p;
    return 0;
}

/* Average bucket size right after a build, and the one that triggers a rebuild with twice the
 * buckets. Smaller buckets mean more probes; larger ones longer runs to read. */
#define FILL 8
#define FILL_MAX 16

/* The bucket count for n entries. */
static int p_for(size_t n)
{
    int p = P_MIN;
    while (p < P_MAX && ((size_t)FILL << p) < n)
        p++;
    return p;
}

static uint32_t run_grow(uint32_t cap)
{
    return cap + cap / 2 + 4;
}

/* Copies every live run to a fresh arena with a little room each; keeps the old one if memory
 * is short (holes cost memory, not answers). */
static void table_compact(struct table *t, int p)
{
    size_t nb = (size_t)1 << p;
    struct table c = *t;
    uint32_t *old = t->dir;
    c.dir = arr_resize(NULL, 0, nb, sizeof *c.dir);
    if (!c.dir) return;
    for (size_t b = 0; b < nb; b++)
        c.dir[b] = t->e[old[b]];
    if (table_layout(&c, nb) != 0) {
        arr_free(c.dir, nb * sizeof *c.dir);
        return;
    }
    for (size_t b = 0; b < nb; b++) {
        const uint32_t *from = t->e + old[b];
        uint32_t *to = c.e + c.dir[b];
        memcpy(to + HDR, from + HDR, from[0] * sizeof *to);
        to[0] = from[0];
    }
    table_free(t, p);
    *t = c;
}

/* Makes room for appending to bucket b of table t, moving its run to the arena's end if full.
 * Fails only before changing anything. */
static int table_room(struct table *t, uint32_t b)
{
    uint32_t *run = t->e + t->dir[b];
    if (run[0] < run[1]) return 0;
    uint32_t ncap = run_grow(run[1]), n = run[0], ocap = run[1];
    if (t->used + HDR + ncap > t->cap) {
        size_t cap = t->cap + t->cap / 2 + HDR + ncap;
        if (cap > UINT32_MAX) return -ENOMEM;
        uint32_t *e = arr_resize(t->e, t->cap * sizeof *e, cap, sizeof *e);
        if (!e) return -ENOMEM;
        t->e = e;
        t->cap = cap;
        run = t->e + t->dir[b];
    }
    uint32_t *to = t->e + t->used;
    memcpy(to + HDR, run + HDR, n * sizeof *to);
    to[0] = n;
    to[1] = ncap;
    t->garbage += HDR + ocap;
    t->dir[b] = (uint32_t)t->used;
    t->used += HDR + ncap;
    return 0;
}

static int tables_add(struct store_pdq *x, uint32_t slot)
{
    uint32_t word[M], b[M];
    for (int i = 0; i < M; i++) {
        b[i] = bucket_of(x, x->h[slot], i, &word[i], slot);
        if (table_room(&x->t[i], b[i]) != 0) return -ENOMEM;
    }
    for (int i = 0; i < M; i++) {
        struct table *t = &x->t[i];
        uint32_t *run = t->e + t->dir[b[i]];
        run[HDR + run[0]++] = word[i];
        if (t->garbage > 4096 && t->garbage > t->used / 3) table_compact(t, x->p);
    }
    return 0;
}

/* Finds slot's word in each of its buckets (its hash is still in x->h[slot]) and either
 * removes it (to == NONE) or renames it to slot `to`. */
static void tables_edit(struct store_pdq *x, uint32_t slot, uint32_t to)
{
    for (int i = 0; i < M; i++) {
        struct table *t = &x->t[i];
        uint32_t word;
        uint32_t *run = t->e + t->dir[bucket_of(x, x->h[slot], i, &word, slot)];
        for (uint32_t j = 0; j < run[0]; j++) {
            if (run[HDR + j] != word) continue;
            if (to == NONE)
                run[HDR + j] = run[HDR + --run[0]];
            else
                run[HDR + j] = (word >> t->sb << t->sb) | to;
            break;
        }
    }
}

/* ---- life cycle ---- */

int store_pdq_new(struct store_pdq **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

void store_pdq_free(struct store_pdq *x)
{
    if (!x) return;
    tables_free(x);
    arr_free(x->h, x->hcap * sizeof *x->h);
    arr_free(x->id, x->idncap * sizeof *x->id);
    arr_free(x->next, x->nextcap * sizeof *x->next);
    arr_free(x->idmap, x->idcap * sizeof *x->idmap);
    free(x);
}

size_t store_pdq_count(const struct store_pdq *x)
{
    return x->n;
}

size_t store_pdq_memory(const struct store_pdq *x)
{
    size_t m = sizeof *x + x->hcap * sizeof *x->h + x->idncap * sizeof *x->id +
               x->nextcap * sizeof *x->next + x->idcap * sizeof *x->idmap;
    if (x->p)
        for (int i = 0; i < M; i++)
            m += (((size_t)1 << x->p) + x->t[i].cap) * sizeof(uint32_t);
    return m;
}

static int slots_reserve(struct store_pdq *x, size_t n)
{
    if (n <= x->cap) return 0;
    if (n > SLOTS_MAX) return -ENOMEM;
    size_t cap = x->cap ? x->cap + x->cap / 4 : 1024;
    if (cap < n) cap = n;
    if (cap > SLOTS_MAX) cap = SLOTS_MAX;
    /* Each array keeps its own capacity, so that one failing to grow leaves the others grown
     * and every size known. */
    if (x->hcap < cap) {
        void *h = arr_resize(x->h, x->hcap * sizeof *x->h, cap, sizeof *x->h);
        if (!h) return -ENOMEM;
        x->h = h;
        x->hcap = cap;
    }
    if (x->idncap < cap) {
        void *id = arr_resize(x->id, x->idncap * sizeof *x->id, cap, sizeof *x->id);
        if (!id) return -ENOMEM;
        x->id = id;
        x->idncap = cap;
    }
    if (x->nextcap < cap) {
        void *next = arr_resize(x->next, x->nextcap * sizeof *x->next, cap, sizeof *x->next);
        if (!next) return -ENOMEM;
        x->next = next;
        x->nextcap = cap;
    }
    x->cap = cap;
    return 0;
}

int store_pdq_reserve(struct store_pdq *x, size_t n)
{
    int rc = slots_reserve(x, n);
    if (rc == 0) rc = idmap_reserve(x, n);
    if (rc == 0 && n >= STORE_PDQ_MIH_MIN && p_for(n) > x->p) rc = tables_build(x, p_for(n), x->n);
    return rc;
}

int store_pdq_add(struct store_pdq *x, const uint8_t hash[static 32],
                  const uint8_t id[static PROTO_ID_LEN])
{
    /* No duplicate check: the node adds each record exactly once. */
    size_t n = x->n + 1;
    int rc = slots_reserve(x, n);
    if (rc == 0) rc = idmap_reserve(x, x->nid + 1);
    if (rc) return rc;
    uint32_t s = (uint32_t)x->n;
    pdq_load(x->h[s], hash);
    memcpy(x->id[s], id, PROTO_ID_LEN);
    if (x->p ? (n > ((size_t)FILL_MAX << x->p) && x->p < P_MAX) : n >= STORE_PDQ_MIH_MIN) {
        rc = tables_build(x, x->p ? x->p + 1 : p_for(n), n); /* includes slot s */
    } else if (x->p) {
        rc = tables_add(x, s);
    }
    if (rc) return rc;
    size_t at = id_find(x, id);
    if (x->idmap[at] == NONE) {
        x->next[s] = NONE;
        x->nid++;
    } else {
        x->next[s] = x->idmap[at];
    }
    x->idmap[at] = s;
    x->n = n;
    return 0;
}

/* Points whatever links to slot `from` (the id map or a chain) at slot `to`. */
static void chain_rename(struct store_pdq *x, uint32_t from, uint32_t to)
{
    size_t at = id_find(x, x->id[from]);
    if (x->idmap[at] == from) {
        x->idmap[at] = to;
        return;
    }
    for (uint32_t s = x->idmap[at]; s != NONE; s = x->next[s]) {
        if (x->next[s] == from) {
            x->next[s] = to;
            return;
        }
    }
}

size_t store_pdq_remove(struct store_pdq *x, const uint8_t id[static PROTO_ID_LEN])
{
    if (x->n == 0) return 0;
    size_t at = id_find(x, id);
    if (x->idmap[at] == NONE) return 0;
    size_t removed = 0;
    uint8_t key[PROTO_ID_LEN];
    memcpy(key, id, PROTO_ID_LEN); /* id may point into the index itself */
    for (;;) {
        uint32_t s = x->idmap[at];
        int more = x->next[s] != NONE;
        if (more)
            x->idmap[at] = x->next[s];
        else
            idmap_delete(x, at); /* may shift other ids' cells back into `at` */
        if (x->p) tables_edit(x, s, NONE);
        uint32_t last = (uint32_t)x->n - 1;
        if (s != last) {
            if (x->p) tables_edit(x, last, s);
            chain_rename(x, last, s);
            memcpy(x->h[s], x->h[last], sizeof *x->h);
            memcpy(x->id[s], x->id[last], sizeof *x->id);
            x->next[s] = x->next[last];
        }
        x->n--;
        removed++;
        if (!more) break;
        at = id_find(x, key);
    }
    return removed;
}

/* ---- queries ---- */

static int hit_cmp(const struct store_pdq_hit *a, const struct store_pdq_hit *b)
{
    if (a->distance != b->distance) return a->distance < b->distance ? -1 : 1;
    int c = memcmp(a->id, b->id, PROTO_ID_LEN);
    return c ? c : memcmp(a->hash, b->hash, 32);
}

struct answer {
    struct store_pdq_hit *hits;
    size_t max, kept, total;
};

/* Keeps the best `max` by insertion into a sorted array: max is an API page, small. */
static void answer_add(struct answer *a, const struct store_pdq *x, uint32_t s, int d)
{
    a->total++;
    if (a->max == 0) return;
    struct store_pdq_hit h;
    h.distance = d;
    memcpy(h.id, x->id[s], PROTO_ID_LEN);
    memcpy(h.hash, x->h[s], 32);
    if (a->kept == a->max && hit_cmp(&h, &a->hits[a->max - 1]) >= 0) return;
    size_t i = a->kept < a->max ? a->kept++ : a->max - 1;
    while (i > 0 && hit_cmp(&h, &a->hits[i - 1]) < 0) {
        a->hits[i] = a->hits[i - 1];
        i--;
    }
    a->hits[i] = h;
}

/* Probe radius per chunk for radius r: sum(t_i + 1) = r + 1, the spare units going to the
 * wider chunks first; t_i = -1 leaves a table out. */
static void probe_radii(int r, int t[M])
{
    for (int i = 0; i < M; i++)
        t[i] = (r + 1) / M + (i < (r + 1) % M ? 1 : 0) - 1;
}

/* Sum of C(n, k) for k = 0..t. */
static double ball(int n, int t)
{
    double c = 1, s = 1;
    for (int k = 1; k <= t && k <= n; k++) {
        c = c * (n - k + 1) / k;
        s += c;
    }
    return s;
}

/* Whether the tables beat a scan at radius r. Costs in units of one cache miss: a bucket
 * visit is about two, a candidate one, a scanned word a few percent; a scan costs about a
 * tenth of a miss per hash (it streams). Measured by bench/bench_pdq_index.c. */
static int use_tables(const struct store_pdq *x, int r)
{
    if (!x->p || r > 255) return 0;
    int t[M];
    probe_radii(r, t);
    double n = (double)x->n, visits = 0, cands = 0, per = n / (double)(1u << x->p);
    for (int i = 0; i < M; i++) {
        if (t[i] < 0) continue;
        visits += ball(x->p, t[i]);
        cands += ball(CH_BITS[i], t[i]) * n / (double)(1u << CH_BITS[i]);
    }
    return visits * (2 + per * 0.05) + cands * 1.5 < n * 0.1;
}

/* Scans slots [lo, hi) for every query of a batch, sharing each block of hashes. */
static void scan(const struct store_pdq *x, const uint64_t (*q)[4], size_t nq, int r,
                 struct answer *a)
{
    const size_t block = 2048; /* 64 KiB of hashes: stays in L2 across the batch */
    for (size_t lo = 0; lo < x->n; lo += block) {
        size_t hi = lo + block < x->n ? lo + block : x->n;
        for (size_t k = 0; k < nq; k++) {
            for (size_t s = lo; s < hi; s++) {
                int d = dist_words(q[k], x->h[s]);
                if (d <= r) answer_add(&a[k], x, (uint32_t)s, d);
            }
        }
    }
}

/* One table query in flight. Visits go through a ring: a visit's bucket header is requested
 * when it is pushed, read LAG1 pushes later (requesting its run), and its run is scanned LAG2
 * pushes later, so that a dozen misses are in flight instead of one. Candidates' hashes are
 * requested when found and checked CANDS at a time. */
#define RING 64
#define LAG1 16
#define LAG2 32
#define CANDS 256

struct visit {
    const uint32_t *dir;
    const uint32_t *run;
    uint32_t n, qres;
    int tol, table;
};

struct probe {
    const struct store_pdq *x;
    uint64_t q[4];
    int r;
    int t[M];
    uint32_t qc[M];
    struct answer *a;
    struct visit v[RING];
    size_t head; /* visits pushed */
    struct {
        uint32_t slot;
        int table;
    } c[CANDS];
    int nc;
};

static void probe_verify(struct probe *pr)
{
    const struct store_pdq *x = pr->x;
    for (int k = 0; k < pr->nc; k++) {
        const uint64_t *h = x->h[pr->c[k].slot];
        int d = dist_words(pr->q, h);
        if (d > pr->r) continue;
        /* Report it from the first table whose probe reaches it. */
        int first = 1;
        for (int j = 0; j < pr->c[k].table && first; j++)
            if (pr->t[j] >= 0 && __builtin_popcount(chunk(h, j) ^ pr->qc[j]) <= pr->t[j]) first = 0;
        if (first) answer_add(pr->a, x, pr->c[k].slot, d);
    }
    pr->nc = 0;
}

static void visit_open(struct probe *pr, struct visit *v)
{
    v->run = pr->x->t[v->table].e + *v->dir;
    __builtin_prefetch(v->run);
    __builtin_prefetch(v->run + 16);
}

static void visit_scan(struct probe *pr, const struct visit *v)
{
    const struct store_pdq *x = pr->x;
    int sb = x->t[v->table].sb, tol = v->tol;
    uint32_t qres = v->qres, smask = (1u << sb) - 1, n = v->run[0];
    const uint32_t *w = v->run + HDR;
    if (n > 16) __builtin_prefetch(w + 30);
    for (uint32_t j = 0; j < n; j++) {
        if (__builtin_popcount((w[j] >> sb) ^ qres) > tol) continue;
        if (pr->nc == CANDS) probe_verify(pr);
        uint32_t s = w[j] & smask;
        __builtin_prefetch(x->h[s]);
        pr->c[pr->nc].slot = s;
        pr->c[pr->nc].table = v->table;
        pr->nc++;
    }
}

static void probe_push(struct probe *pr, int i, uint32_t bucket, int tol)
{
    const struct table *t = &pr->x->t[i];
    struct visit *v = &pr->v[pr->head % RING];
    v->dir = &t->dir[bucket];
    __builtin_prefetch(v->dir);
    v->qres = pr->qc[i] >> pr->x->p;
    v->tol = tol;
    v->table = i;
    pr->head++;
    if (pr->head > LAG1) visit_open(pr, &pr->v[(pr->head - 1 - LAG1) % RING]);
    if (pr->head > LAG2) visit_scan(pr, &pr->v[(pr->head - 1 - LAG2) % RING]);
}

static void probe_drain(struct probe *pr)
{
    size_t h = pr->head;
    for (size_t k = h > LAG1 ? h - LAG1 : 0; k < h; k++)
        visit_open(pr, &pr->v[k % RING]);
    for (size_t k = h > LAG2 ? h - LAG2 : 0; k < h; k++)
        visit_scan(pr, &pr->v[k % RING]);
    probe_verify(pr);
}

static void query_tables(const struct store_pdq *x, const uint64_t q[4], int r, struct answer *a)
{
    struct probe pr;
    pr.x = x;
    memcpy(pr.q, q, sizeof pr.q);
    pr.r = r;
    pr.a = a;
    pr.head = 0;
    pr.nc = 0;
    probe_radii(r, pr.t);
    int p = x->p;
    uint32_t pmask = (1u << p) - 1;
    for (int i = 0; i < M; i++)
        pr.qc[i] = chunk(q, i);
    for (int i = 0; i < M; i++) {
        uint32_t base = pr.qc[i] & pmask;
        for (int k = 0; k <= pr.t[i] && k <= p; k++) {
            /* Every p-bit mask with k bits set, in increasing order (Gosper's hack). */
            uint32_t e = (1u << k) - 1;
            while (1) {
                probe_push(&pr, i, base ^ e, pr.t[i] - k);
                if (k == 0) break;
                uint32_t c = e & -e, rr = e + c;
                e = (((rr ^ e) >> 2) / c) | rr;
                if (e > pmask) break;
            }
        }
    }
    probe_drain(&pr);
}

static void answer_init(struct answer *a, struct store_pdq_hit *hits, size_t max)
{
    a->hits = hits;
    a->max = max;
    a->kept = a->total = 0;
}

size_t store_pdq_query(const struct store_pdq *x, const uint8_t q[static 32], int max_distance,
                       struct store_pdq_hit *hits, size_t max)
{
    if (max_distance < 0 || x->n == 0) return 0;
    if (max_distance > 256) max_distance = 256;
    struct answer a;
    answer_init(&a, hits, max);
    uint64_t qw[4];
    pdq_load(qw, q);
    if (use_tables(x, max_distance))
        query_tables(x, qw, max_distance, &a);
    else
        scan(x, (const uint64_t(*)[4]) & qw, 1, max_distance, &a);
    return a.total;
}

int store_pdq_query_batch(const struct store_pdq *x, const uint8_t (*q)[32], size_t nq,
                          int max_distance, struct store_pdq_hit *hits, size_t max, size_t *totals)
{
    if (max_distance < 0 || x->n == 0) {
        for (size_t k = 0; k < nq; k++)
            totals[k] = 0;
        return 0;
    }
    if (max_distance > 256) max_distance = 256;
    if (use_tables(x, max_distance)) {
        for (size_t k = 0; k < nq; k++)
            totals[k] = store_pdq_query(x, q[k], max_distance, hits ? hits + k * max : NULL, max);
        return 0;
    }
    /* A scan is memory-bound: a group of queries shares each block of hashes. */
    enum { GROUP = 16 };
    for (size_t k0 = 0; k0 < nq; k0 += GROUP) {
        size_t g = nq - k0 < GROUP ? nq - k0 : GROUP;
        uint64_t qw[GROUP][4];
        struct answer a[GROUP];
        for (size_t k = 0; k < g; k++) {
            pdq_load(qw[k], q[k0 + k]);
            answer_init(&a[k], hits ? hits + (k0 + k) * max : NULL, max);
        }
        scan(x, (const uint64_t(*)[4])qw, g, max_distance, a);
        for (size_t k = 0; k < g; k++)
            totals[k0 + k] = a[k].total;
    }
    return 0;
}
