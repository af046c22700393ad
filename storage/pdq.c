/*
 * PDQ similarity index: multi-index hashing over a dense array of hashes, with a linear scan
 * for small sets and for radii where the tables cost more than a scan (docs/matching.md).
 *
 * Entries live in slots 0..n-1: the hash as four native words, and the id (id_len bytes, none
 * when id_len is 0) in a flat array beside it. An id map (open addressing, one cell per entry,
 * holding the slot) finds an id's entries for store_pdq_remove.
 *
 * The 256 bits are cut into M = 11 chunks (six of 24 bits, four of 23, one of 20: the last,
 * which gets the smaller probe radius, short, so that the others are long and fewer entries
 * match a chunk by chance; measured in docs/performance.md). For a radius r the
 * generalised pigeonhole principle gives each chunk a probe radius t_i with
 * sum(t_i + 1) = r + 1: if every chunk differed in more than t_i bits the whole hash would
 * differ in more than r. So an entry within r of q has some chunk i within t_i of q's chunk i,
 * and probing table i at t_i for every i finds it. For r = 31 that is ten chunks at 2 and one
 * at 1. An entry is reported the first time a candidate check meets it, which is from the
 * first table that can see it (the lowest i with the chunk within t_i): a query's set of
 * reported slots, and past its size that first-table rule, keep each entry once.
 *
 * Table i has 2^p buckets addressed by the low p bits of chunk i, laid out compactly (CSR):
 * bucket b's 32-bit words are w[off[b] .. off[b+1]), each the chunk's other bits (the
 * residual) above the slot number; no headers, no slack. A probe enumerates the buckets within
 * k <= t_i flips of q's low bits and keeps the words whose residual is within t_i - k of q's,
 * so only true chunk matches reach the hash array.
 *
 * Slots [0, nd) are in the tables: table i holds those of [0, t[i].nt) in its compact part,
 * built by a counting sort, and those of [t[i].nt, nd) in its delta: a small open-addressing
 * map keyed by bucket, with the top bit of off[b] telling a probe that bucket b has delta
 * words (so a probe of a bucket without any reads nothing more). Slots [nd, n) are pending:
 * the last few adds, scanned by queries until PEND of them go into the deltas together. When a
 * table's delta passes 1/16 of its compact part, that table alone is rebuilt (at most two per
 * flush, on two threads), so that the owner's thread is held for one table's build at a time;
 * tables may differ in p meanwhile. A remove overwrites the entry's words with TOMB in the compact
 * parts (or deletes its delta cells) and marks the slot dead; rebuilt tables leave dead slots out.
 * When dead slots pass 1/8 of the tables, all of them are rebuilt at once (on two threads):
 * dead slots are squeezed out (slots renumbered in order, the id map rebuilt) first.
 * store_pdq_reserve(n) defers the tables until the count reaches n, so that a bulk load
 * builds them once.
 *
 * With jobs (store_pdq_set_async), those rebuilds and the arrays' growth are begun by the
 * owner, built elsewhere into fresh memory from the arrays as they were (pinned) and a copy of
 * the dead bits, and committed by the owner, who replays onto the result what changed
 * meanwhile (see "maintenance by jobs" below).
 */
#include "storage/pdq.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define M 11
#define P_MIN 8
#define P_MAX 22
#define NONE UINT32_MAX
/* Entries beyond this would not fit the slot bits at P_MAX (slot 2^30 - 1 is TOMB's). */
#define SLOTS_MAX ((1u << 30) - 2)
/* Adds scanned by queries before they go into the delta together. */
#define PEND 64
/* A removed entry's word in a compact table: never a candidate. */
#define TOMB UINT32_MAX
/* In off[b]: bucket b has words in the delta. */
#define FLAG 0x80000000u
#define OFF_MASK 0x7fffffffu
/* Rebuild when the delta (and pending) pass nt / DELTA_DIV, or dead slots nt / DEAD_DIV. */
#ifndef DELTA_DIV
#define DELTA_DIV 16
#endif
#define DEAD_DIV 8

static const uint8_t CH_START[M] = {0, 24, 48, 72, 96, 120, 144, 167, 190, 213, 236};
static const uint8_t CH_BITS[M] = {24, 24, 24, 24, 24, 24, 23, 23, 23, 23, 20};

/* A delta word: the bucket it belongs to plus one (0 marks an empty cell, so that a fresh
 * mapping is an empty map without being written) and the word. */
struct dcell {
    uint32_t b1, w;
};

struct table {
    uint32_t *off; /* 2^p + 1 offsets into w, FLAG on buckets with delta words */
    uint32_t *w;   /* nw words, bucket after bucket */
    size_t nw;
    size_t nt; /* the compact part holds the live slots of [0, nt), the delta those of [nt, nd) */
    int p;     /* 2^p buckets */
    int sb;    /* slot bits: a word is residual << sb | slot */
    struct dcell *d; /* the delta: linear probing on the bucket, load at most 3/4 */
    size_t dcap, dn;
};

struct store_pdq {
    uint64_t (*h)[4];
    uint8_t *id;    /* idlen bytes per slot; none when idlen is 0 */
    uint64_t *dead; /* one bit per slot: removed, waiting for the next rebuild */
    size_t idlen;
    size_t n, nd, cap; /* slots; [0, nd) are in the tables, [nd, n) pending */
    size_t ndead;      /* dead slots (only while there are tables) */
    size_t nkill;      /* of them, those whose words are still in the tables (commit_full) */
    size_t hcap, idncap, deadcap; /* each array's room (deadcap in words); cap is the least */
    size_t defer;                 /* store_pdq_reserve's target: no tables before n reaches it */
    size_t retry;                 /* after a failed build: the count at which to try again */
    uint32_t *idmap;              /* linear probing, one cell per entry: its slot, NONE if empty */
    size_t idcap, nid;
    int p; /* nonzero while there are tables (each table has its own p) */
    struct table t[M];
    int async;                 /* rebuilds and growth by jobs (store_pdq_job_begin) only */
    struct store_pdq_job *job; /* begun, not yet committed or dropped */
    /* The hash and id arrays the job reads: growth meanwhile copies them but does not free
     * them (the job's end does), and no slot of them that the job reads is ever written. */
    uint64_t (*pin_h)[4];
    uint8_t *pin_id;
    size_t pin_hcap, pin_idncap;
};

/*
 * Arrays of a megabyte or more are mapped directly, at a 2 MiB boundary, and ask for huge
 * pages: the index's reads are scattered over hundreds of megabytes, and with 4 KiB pages
 * nearly every one also misses the TLB (measured: a third fewer queries per second). A mapping
 * that merely starts page-aligned cannot be backed by huge pages at its edges, and mremap moves
 * mappings to unaligned addresses, so growing copies into a fresh aligned mapping instead (the
 * arrays grow geometrically, so the copies cost O(1) per entry). Page alignment also keeps a
 * 32-byte hash within one cache line. Smaller arrays use malloc, where the sanitizers watch
 * them.
 */
#define BIG ((size_t)1 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

static void *map_aligned(size_t bytes)
{
    if (bytes > SIZE_MAX - HUGE_PAGE) return NULL;
    uint8_t *m =
        mmap(NULL, bytes + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    uintptr_t a = ((uintptr_t)m + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    uint8_t *q = (uint8_t *)a;
    size_t head = (size_t)(q - m), len = (bytes + 4095) & ~(size_t)4095;
    if (head) munmap(m, head);
    munmap(q + len, HUGE_PAGE - head); /* the mapping ends at m + len + HUGE_PAGE */
    (void)madvise(q, bytes, MADV_HUGEPAGE);
    /* Every page faulted in now, by the thread that allocates (a job's, when there are jobs):
     * a huge page's first touch costs about 5 ms on this class of machine, and the adds that
     * first wrote the room of the hash array and the delta maps held the owner that long
     * every 65,536 adds, and 250 ms after a build (measured at 10M). */
    for (size_t o = 0; o < len; o += 4096)
        ((volatile uint8_t *)q)[o] = 0;
    return q;
}

static void *arr_resize(void *p, size_t old, size_t count, size_t size)
{
    if (count > SIZE_MAX / size) return NULL;
    size_t bytes = count * size;
    void *q;
    if (bytes < BIG) {
        if (old < BIG) return realloc(p, bytes ? bytes : 1);
        q = malloc(bytes ? bytes : 1);
        if (!q) return NULL;
        memcpy(q, p, bytes);
        munmap(p, old);
        return q;
    }
    q = map_aligned(bytes);
    if (!q) return NULL;
    if (p) {
        memcpy(q, p, old < bytes ? old : bytes);
        if (old >= BIG)
            munmap(p, old);
        else
            free(p);
    }
    return q;
}

/* A zeroed array (a fresh mapping is zero already). */
static void *arr_zeroed(size_t count, size_t size)
{
    if (count > SIZE_MAX / size) return NULL;
    if (count * size < BIG) return calloc(count ? count : 1, size);
    return map_aligned(count * size);
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

static const uint8_t *id_of(const struct store_pdq *x, size_t s)
{
    return x->id + s * x->idlen;
}

static int id_eq(const struct store_pdq *x, size_t s, const uint8_t *id)
{
    return memcmp(id_of(x, s), id, x->idlen) == 0;
}

/* ---- id map: one cell per entry, so an id with many entries has many cells ---- */

static size_t id_home(const struct store_pdq *x, const uint8_t *id)
{
    uint64_t v = 0;
    memcpy(&v, id, x->idlen < 8 ? x->idlen : 8);
    /* Ids are digests; the multiply spreads them anyway so that the table does not depend
     * on that (and short keys, such as feed positions, spread too). */
    v *= 0x9e3779b97f4a7c15ull;
    return (size_t)(v >> 32) & (x->idcap - 1);
}

static void idmap_put(struct store_pdq *x, uint32_t s)
{
    size_t i = id_home(x, id_of(x, s));
    while (x->idmap[i] != NONE)
        i = (i + 1) & (x->idcap - 1);
    x->idmap[i] = s;
    x->nid++;
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
    x->nid = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i] != NONE) idmap_put(x, old[i]);
    arr_free(old, oldcap * sizeof *old);
    return 0;
}

/* The cell holding slot s (whose id is id), or of the first cell with that id if s == NONE;
 * idcap if there is none. */
static size_t idmap_find(const struct store_pdq *x, const uint8_t *id, uint32_t s)
{
    if (!x->idcap) return 0;
    for (size_t i = id_home(x, id);; i = (i + 1) & (x->idcap - 1)) {
        uint32_t v = x->idmap[i];
        if (v == NONE) return x->idcap;
        if (s == NONE ? id_eq(x, v, id) : v == s) return i;
    }
}

/* Empties cell i, shifting later cells of its run back so that no search stops early. */
static void idmap_delete(struct store_pdq *x, size_t i)
{
    size_t mask = x->idcap - 1;
    for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
        if (x->idmap[j] == NONE) break;
        size_t k = id_home(x, id_of(x, x->idmap[j]));
        /* The entry at j may move to i unless its home lies cyclically in (i, j]. */
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays) continue;
        x->idmap[i] = x->idmap[j];
        i = j;
    }
    x->idmap[i] = NONE;
    x->nid--;
}

/* The id map anew for slots [0, n), after they were renumbered. */
static void idmap_rebuild(struct store_pdq *x)
{
    if (!x->idcap) return;
    memset(x->idmap, 0xff, x->idcap * sizeof *x->idmap);
    x->nid = 0;
    for (size_t s = 0; s < x->n; s++)
        idmap_put(x, (uint32_t)s);
}

/* ---- dead slots ---- */

static int is_dead(const struct store_pdq *x, size_t s)
{
    return (int)(x->dead[s >> 6] >> (s & 63) & 1);
}

static void set_dead(struct store_pdq *x, size_t s)
{
    x->dead[s >> 6] |= 1ull << (s & 63);
    x->ndead++;
}

/* ---- tables ---- */

/* Table t (the table of chunk i): the bucket of hash w, and in *word the word of w at slot. */
static uint32_t table_bucket(const struct table *t, int i, const uint64_t w[4], uint32_t *word,
                             uint32_t slot)
{
    uint32_t c = chunk(w, i);
    *word = (c >> t->p) << t->sb | slot;
    return c & ((1u << t->p) - 1);
}

static uint32_t bucket_of(const struct store_pdq *x, const uint64_t w[4], int i, uint32_t *word,
                          uint32_t slot)
{
    return table_bucket(&x->t[i], i, w, word, slot);
}

/* Slots from this one on do not fit every table's slot bits (or would be TOMB). */
static size_t slot_limit(const struct store_pdq *x)
{
    size_t lim = SIZE_MAX;
    for (int i = 0; i < M; i++) {
        size_t l = ((size_t)1 << x->t[i].sb) - 1;
        if (l < lim) lim = l;
    }
    return lim;
}

/* The least of the tables' compact coverage. */
static size_t nt_min(const struct store_pdq *x)
{
    size_t m = SIZE_MAX;
    for (int i = 0; i < M; i++)
        if (x->t[i].nt < m) m = x->t[i].nt;
    return m;
}

static size_t dhome(uint32_t b, size_t cap)
{
    return (size_t)(((uint64_t)b * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

static void table_free(struct table *t)
{
    if (t->off) arr_free(t->off, (((size_t)1 << t->p) + 1) * sizeof *t->off);
    arr_free(t->w, (t->nw ? t->nw : 1) * sizeof *t->w);
    arr_free(t->d, t->dcap * sizeof *t->d);
    memset(t, 0, sizeof *t);
}

static void tables_free(struct store_pdq *x)
{
    for (int i = 0; i < M; i++)
        table_free(&x->t[i]);
    x->p = 0;
    x->nd = 0;
}

static void delta_put_cell(struct table *t, uint32_t b, uint32_t w)
{
    size_t i = dhome(b, t->dcap);
    while (t->d[i].b1 != 0)
        i = (i + 1) & (t->dcap - 1);
    t->d[i].b1 = b + 1;
    t->d[i].w = w;
    t->dn++;
}

/* Room for one more delta word in table t. Fails only before changing anything. */
static int delta_room(struct table *t)
{
    if ((t->dn + 1) * 4 <= t->dcap * 3) return 0;
    size_t cap = t->dcap ? 2 * t->dcap : 256;
    struct dcell *d = arr_zeroed(cap, sizeof *d);
    if (!d) return -ENOMEM;
    struct dcell *old = t->d;
    size_t oldcap = t->dcap;
    t->d = d;
    t->dcap = cap;
    t->dn = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].b1) delta_put_cell(t, old[i].b1 - 1, old[i].w);
    arr_free(old, oldcap * sizeof *old);
    return 0;
}

/* Deletes the delta cell (b, w), shifting later cells of its run back. */
static void delta_delete(struct table *t, uint32_t b, uint32_t w)
{
    size_t mask = t->dcap - 1, i = dhome(b, t->dcap);
    while (t->d[i].b1 != b + 1 || t->d[i].w != w) {
        if (t->d[i].b1 == 0) return;
        i = (i + 1) & mask;
    }
    for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
        if (t->d[j].b1 == 0) break;
        size_t k = dhome(t->d[j].b1 - 1, t->dcap);
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays) continue;
        t->d[i] = t->d[j];
        i = j;
    }
    t->d[i].b1 = 0;
    t->dn--;
}

/* Builds table i as CSR for the slots of 0..nslots-1 of hashes h that are not set in dead
 * (NULL: none is) with 2^p buckets, by counting sort. Only reads (the full build runs it on
 * two threads, a job on a worker while the owner goes on). */
static int table_build(const uint64_t (*h)[4], const uint64_t *dead, int i, int p, size_t nslots,
                       struct table *out)
{
    struct table t = {0};
    if (p > CH_BITS[i] - 1) p = CH_BITS[i] - 1; /* a word keeps at least one residual bit */
    size_t nb = (size_t)1 << p;
    t.p = p;
    t.nt = nslots;
    t.sb = 32 - (CH_BITS[i] - p);
    t.off = arr_resize(NULL, 0, nb + 1, sizeof *t.off);
    if (!t.off) return -ENOMEM;
    memset(t.off, 0, (nb + 1) * sizeof *t.off);
    uint32_t pmask = (uint32_t)nb - 1;
#define DEAD(s) (dead && (dead[(s) >> 6] >> ((s)&63) & 1))
    for (size_t s = 0; s < nslots; s++)
        if (!DEAD(s)) t.off[(chunk(h[s], i) & pmask) + 1]++;
    for (size_t b = 1; b <= nb; b++)
        t.off[b] += t.off[b - 1];
    t.nw = t.off[nb];
    t.w = arr_resize(NULL, 0, t.nw ? t.nw : 1, sizeof *t.w);
    if (!t.w) {
        table_free(&t);
        return -ENOMEM;
    }
    /* off[b] serves as bucket b's cursor, ending at the start of bucket b + 1. */
    for (size_t s = 0; s < nslots; s++) {
        if (DEAD(s)) continue;
        uint32_t c = chunk(h[s], i);
        t.w[t.off[c & pmask]++] = (c >> p) << t.sb | (uint32_t)s;
    }
#undef DEAD
    memmove(t.off + 1, t.off, nb * sizeof *t.off);
    t.off[0] = 0;
    /* The delta sized for the adds until this table's next rebuild (1/16 of it at load 3/4),
     * so that it does not grow meanwhile (rehashing all eleven at 10M held the owner 65-176
     * ms). */
    t.dcap = 256;
    while (t.dcap < nslots / (DELTA_DIV * 3 / 4))
        t.dcap *= 2;
    t.d = arr_zeroed(t.dcap, sizeof *t.d);
    if (!t.d) {
        table_free(&t);
        return -ENOMEM;
    }
    *out = t;
    return 0;
}

struct build_job {
    const struct store_pdq *x;
    struct table *t;
    int first, step, p, rc;
    size_t nslots;
};

static void *build_run(void *arg)
{
    struct build_job *j = arg;
    for (int i = j->first; i < M && j->rc == 0; i += j->step)
        j->rc = table_build((const uint64_t(*)[4])j->x->h, j->x->ndead ? j->x->dead : NULL, i, j->p,
                            j->nslots, &j->t[i]);
    return NULL;
}

/* Average bucket size right after a build. Smaller buckets mean more probes (and a larger
 * offset array); larger ones longer runs to read. */
#ifndef FILL
#define FILL 8
#endif

/* The bucket count for n entries. */
static int p_for(size_t n)
{
    int p = P_MIN;
    while (p < P_MAX && ((size_t)FILL << p) < n)
        p++;
    return p;
}

/* Squeezes dead slots out, keeping the order of the live ones, and rebuilds the id map for
 * the new slot numbers. Only while there are no tables. */
static void slots_compact(struct store_pdq *x)
{
    if (x->ndead == 0) return;
    size_t j = 0;
    for (size_t s = 0; s < x->n; s++) {
        if (is_dead(x, s)) continue;
        if (j != s) {
            memcpy(x->h[j], x->h[s], sizeof *x->h);
            if (x->idlen) memcpy(x->id + j * x->idlen, x->id + s * x->idlen, x->idlen);
        }
        j++;
    }
    memset(x->dead, 0, ((x->n + 63) / 64) * sizeof *x->dead);
    x->n = j;
    x->ndead = 0;
    x->nkill = 0;
    idmap_rebuild(x);
}

/*
 * Orders slots [0, n) by their hashes' first three bytes (chunk 0), as memcmp would: near
 * copies of one picture then mostly sit side by side in the hash array, so that a query
 * answered by many of them reads fewer lines and pages (measured at 10M on the clustered set:
 * docs/performance.md). Three stable passes of 256 buckets (least significant byte first)
 * between the arrays and fresh ones of the same room, the ids carried along; made before the
 * tables are built, so that the second array's room does not add to the index's peak. Only
 * with no dead slots and no job reading the arrays; without memory the order stays.
 */
static void slots_sort(struct store_pdq *x)
{
    size_t n = x->n, il = x->idlen;
    if (n < 2 || x->ndead || x->job || x->pin_h || x->pin_id) return;
    uint64_t(*h2)[4] = arr_resize(NULL, 0, x->hcap, sizeof *x->h);
    uint8_t *id2 = il ? arr_resize(NULL, 0, x->idncap, il) : NULL;
    if (!h2 || (il && !id2)) {
        arr_free(h2, x->hcap * sizeof *x->h);
        arr_free(id2, x->idncap * il);
        return;
    }
    size_t at[256];
    uint64_t(*src)[4] = x->h, (*dst)[4] = h2;
    uint8_t *isrc = x->id, *idst = id2;
    for (int byte = 2; byte >= 0; byte--) {
        memset(at, 0, sizeof at);
        for (size_t s = 0; s < n; s++)
            at[((const uint8_t *)src[s])[byte]]++;
        for (size_t b = 0, sum = 0; b < 256; b++) {
            size_t c = at[b];
            at[b] = sum;
            sum += c;
        }
        for (size_t s = 0; s < n; s++) {
            size_t d = at[((const uint8_t *)src[s])[byte]]++;
            memcpy(dst[d], src[s], sizeof *src);
            if (il) memcpy(idst + d * il, isrc + s * il, il);
        }
        uint64_t(*t)[4] = src;
        src = dst;
        dst = t;
        uint8_t *it = isrc;
        isrc = idst;
        idst = it;
    }
    arr_free(dst, x->hcap * sizeof *x->h);
    x->h = src;
    if (il) {
        arr_free(idst, x->idncap * il);
        x->id = isrc;
        idmap_rebuild(x);
    }
}

/* Rebuilds: drops the tables and the delta, squeezes out dead slots, orders the slots if sort
 * (slots_sort), and builds the compact tables for every slot with 2^p_for(n) buckets on two
 * threads. On failure (or below STORE_PDQ_MIH_MIN entries) there are no tables, and queries
 * scan. */
static int tables_build(struct store_pdq *x, int threads, int sort)
{
    tables_free(x);
    slots_compact(x);
    if (x->n < STORE_PDQ_MIH_MIN) return 0;
    if (sort) slots_sort(x);
    int p = p_for(x->n);
    struct table t[M];
    memset(t, 0, sizeof t);
    struct build_job j[2] = {{x, t, 0, 2, p, 0, x->n}, {x, t, 1, 2, p, 0, x->n}};
    pthread_t th;
    int threaded = threads > 1 && x->n >= 65536 && pthread_create(&th, NULL, build_run, &j[1]) == 0;
    if (!threaded) j[0].step = 1;
    build_run(&j[0]);
    if (threaded) pthread_join(th, NULL);
    if (j[0].rc || j[1].rc) {
        for (int i = 0; i < M; i++)
            table_free(&t[i]);
        return -ENOMEM;
    }
    memcpy(x->t, t, sizeof t);
    x->p = p;
    x->nd = x->n;
    return 0;
}

struct rebuild_job {
    const struct store_pdq *x;
    int i, rc;
    struct table t;
};

static void *rebuild_run(void *arg)
{
    struct rebuild_job *j = arg;
    const struct store_pdq *x = j->x;
    j->rc = table_build((const uint64_t(*)[4])x->h, x->ndead ? x->dead : NULL, j->i,
                        p_for(x->nd - x->ndead), x->nd, &j->t);
    return NULL;
}

/* Rebuilds the tables named in is[0..k) (k is 1 or 2; two run on two threads) for the live
 * slots of [0, nd), each one's delta emptied into its compact part: about 0.27 s at 10M, so
 * that the owner's thread is held that long at a time. A table whose build fails (memory) is
 * kept as it was. */
static int tables_rebuild(struct store_pdq *x, const int *is, int k)
{
    struct rebuild_job j[2] = {{x, is[0], 0, {0}}, {x, k > 1 ? is[1] : is[0], 0, {0}}};
    pthread_t th;
    int threaded = k > 1 && pthread_create(&th, NULL, rebuild_run, &j[1]) == 0;
    rebuild_run(&j[0]);
    if (threaded)
        pthread_join(th, NULL);
    else if (k > 1)
        rebuild_run(&j[1]);
    int rc = 0;
    for (int m = 0; m < k; m++) {
        if (j[m].rc) {
            rc = j[m].rc;
            continue;
        }
        table_free(&x->t[j[m].i]);
        x->t[j[m].i] = j[m].t;
    }
    return rc;
}

/* Puts the pending slots [nd, n) into the delta, a group at a time with the offsets and
 * home cells requested ahead. Stops at the first failure (the rest stay pending, where
 * queries still see them). */
static int delta_add_pending(struct store_pdq *x)
{
    enum { G = 16 };
    while (x->nd < x->n) {
        size_t g = x->n - x->nd < G ? x->n - x->nd : G;
        uint32_t b[G][M], w[G][M];
        for (size_t k = 0; k < g; k++)
            for (int i = 0; i < M; i++) {
                b[k][i] = bucket_of(x, x->h[x->nd + k], i, &w[k][i], (uint32_t)(x->nd + k));
                __builtin_prefetch(&x->t[i].off[b[k][i]], 1);
                if (x->t[i].d) __builtin_prefetch(&x->t[i].d[dhome(b[k][i], x->t[i].dcap)], 1);
            }
        for (size_t k = 0; k < g; k++) {
            if (!is_dead(x, x->nd)) {
                for (int i = 0; i < M; i++)
                    if (delta_room(&x->t[i]) != 0) return -ENOMEM;
                for (int i = 0; i < M; i++) {
                    struct table *t = &x->t[i];
                    delta_put_cell(t, b[k][i], w[k][i]);
                    t->off[b[k][i]] |= FLAG;
                }
            }
            x->nd++;
        }
    }
    return 0;
}

/* Brings the tables up to date with every slot: builds them (or rebuilds them all when the
 * dead slots have grown past their share), moves the pending entries into the delta, and
 * rebuilds the (at most two) tables whose deltas have grown most past their share, so that the
 * tables' rebuilds are spread over successive calls. On failure the index stays correct
 * (pending entries and missing tables are scanned) and the build is retried when the count
 * has doubled. */
static int tables_flush(struct store_pdq *x)
{
    int build;
    if (!x->p)
        build = x->n >= STORE_PDQ_MIH_MIN;
    else
        build = x->ndead > nt_min(x) / DEAD_DIV || x->n >= slot_limit(x);
    /* With jobs only the first build (p is 0: at most a few times STORE_PDQ_MIH_MIN entries,
     * milliseconds) is made here; the rest is the jobs' (store_pdq_job_begin). */
    if (build && x->n >= x->retry && (!x->async || !x->p)) {
        int rc = tables_build(x, 2, 1);
        if (rc) x->retry = 2 * x->n;
        return rc;
    }
    if (!x->p || x->n >= slot_limit(x)) return 0;
    int rc = delta_add_pending(x);
    if (rc || x->n < x->retry || x->async) return rc;
    /* The two tables with the oldest compact parts, if their deltas are past their share. */
    int is[2], k = 0;
    for (int m = 0; m < 2; m++) {
        int o = -1;
        for (int i = 0; i < M; i++)
            if ((m == 0 || i != is[0]) && (o < 0 || x->t[i].nt < x->t[o].nt)) o = i;
        if (x->nd - x->t[o].nt > x->t[o].nt / DELTA_DIV) is[k++] = o;
    }
    if (k) rc = tables_rebuild(x, is, k);
    if (rc) x->retry = 2 * x->n;
    return rc;
}

/* Takes slot's words out of the tables (its hash is still in x->h[slot]): TOMB in the
 * compact tables, deleted cells in the delta; a pending slot has none. */
static void table_unlink(struct table *t, int i, const uint64_t h[4], uint32_t slot)
{
    uint32_t word, b = table_bucket(t, i, h, &word, slot);
    if (slot >= t->nt) {
        delta_delete(t, b, word);
        return;
    }
    uint32_t lo = t->off[b] & OFF_MASK, hi = t->off[b + 1] & OFF_MASK;
    for (uint32_t j = lo; j < hi; j++)
        if (t->w[j] == word) {
            t->w[j] = TOMB;
            break;
        }
}

static void tables_unlink(struct store_pdq *x, uint32_t slot)
{
    if (slot >= x->nd) return;
    for (int i = 0; i < M; i++)
        table_unlink(&x->t[i], i, x->h[slot], slot);
}

/* ---- life cycle ---- */

int store_pdq_new_idlen(struct store_pdq **out, size_t id_len)
{
    *out = NULL;
    if (id_len > PROTO_ID_LEN) return -EINVAL;
    struct store_pdq *x = calloc(1, sizeof *x);
    if (!x) return -ENOMEM;
    x->idlen = id_len;
    *out = x;
    return 0;
}

int store_pdq_new(struct store_pdq **out)
{
    return store_pdq_new_idlen(out, PROTO_ID_LEN);
}

static void junk(struct store_pdq_job *j, void *p, size_t bytes);

/* Frees the arrays a job read, unless they are still the index's own: now, or with job j
 * (store_pdq_job_free). */
static void unpin(struct store_pdq *x, struct store_pdq_job *j)
{
    if (x->pin_h && x->pin_h != x->h) junk(j, x->pin_h, x->pin_hcap * sizeof *x->pin_h);
    if (x->pin_id && x->pin_id != x->id) junk(j, x->pin_id, x->pin_idncap * x->idlen);
    x->pin_h = NULL;
    x->pin_id = NULL;
    x->pin_hcap = x->pin_idncap = 0;
}

void store_pdq_free(struct store_pdq *x)
{
    if (!x) return;
    unpin(x, NULL);
    tables_free(x);
    arr_free(x->h, x->hcap * sizeof *x->h);
    arr_free(x->id, x->idncap * x->idlen);
    arr_free(x->dead, x->deadcap * sizeof *x->dead);
    arr_free(x->idmap, x->idcap * sizeof *x->idmap);
    free(x);
}

size_t store_pdq_count(const struct store_pdq *x)
{
    return x->n - x->ndead;
}

size_t store_pdq_memory(const struct store_pdq *x)
{
    size_t m = sizeof *x + x->hcap * sizeof *x->h + x->idncap * x->idlen +
               x->deadcap * sizeof *x->dead + x->idcap * sizeof *x->idmap;
    if (x->pin_h && x->pin_h != x->h) m += x->pin_hcap * sizeof *x->h;
    if (x->pin_id && x->pin_id != x->id) m += x->pin_idncap * x->idlen;
    if (x->p)
        for (int i = 0; i < M; i++)
            m += (((size_t)1 << x->t[i].p) + 1 + x->t[i].nw) * sizeof(uint32_t) +
                 x->t[i].dcap * sizeof(struct dcell);
    return m;
}

/* Grows array p (old bytes) to count elements like arr_resize, except that the array a job
 * reads (pin) is copied but not freed: the job's end frees it. */
static void *arr_grow(void *p, size_t old, size_t count, size_t size, const void *pin)
{
    if (!p || p != pin) return arr_resize(p, old, count, size);
    void *q = arr_resize(NULL, 0, count, size);
    if (q) memcpy(q, p, old < count * size ? old : count * size);
    return q;
}

/* Room in the dead bitmap for cap slots (new bits clear). */
static int dead_reserve(struct store_pdq *x, size_t cap)
{
    size_t dcap = (cap + 63) / 64;
    if (x->deadcap >= dcap) return 0;
    uint64_t *d = arr_resize(x->dead, x->deadcap * sizeof *d, dcap, sizeof *d);
    if (!d) return -ENOMEM;
    memset(d + x->deadcap, 0, (dcap - x->deadcap) * sizeof *d);
    x->dead = d;
    x->deadcap = dcap;
    return 0;
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
        void *h = arr_grow(x->h, x->hcap * sizeof *x->h, cap, sizeof *x->h, x->pin_h);
        if (!h) return -ENOMEM;
        x->h = h;
        x->hcap = cap;
    }
    if (x->idlen && x->idncap < cap) {
        void *id = arr_grow(x->id, x->idncap * x->idlen, cap, x->idlen, x->pin_id);
        if (!id) return -ENOMEM;
        x->id = id;
        x->idncap = cap;
    }
    if (dead_reserve(x, cap)) return -ENOMEM;
    x->cap = cap;
    return 0;
}

int store_pdq_reserve(struct store_pdq *x, size_t n)
{
    /* Room for 1/16 more: the adds that follow a bulk load do not grow the arrays at once, and
     * with jobs the growth is prepared off the owner's thread before the room runs out. */
    size_t room = n / 16 < SLOTS_MAX - n ? n / 16 : 0;
    int rc = slots_reserve(x, n + room);
    if (rc == 0 && x->idlen) rc = idmap_reserve(x, n);
    if (rc == 0 && n > x->n) x->defer = n;
    return rc;
}

int store_pdq_flush(struct store_pdq *x)
{
    x->defer = 0;
    return tables_flush(x);
}

int store_pdq_add(struct store_pdq *x, const uint8_t hash[static 32], const uint8_t *id)
{
    /* No duplicate check: the node adds each record exactly once. */
    size_t n = x->n + 1;
    int rc = slots_reserve(x, n);
    if (rc == 0 && x->idlen) rc = idmap_reserve(x, x->nid + 1);
    if (rc) return rc;
    uint32_t s = (uint32_t)x->n;
    pdq_load(x->h[s], hash);
    if (x->idlen) {
        memcpy(x->id + (size_t)s * x->idlen, id, x->idlen);
        idmap_put(x, s);
    }
    x->n = n;
    if (x->defer) {
        if (n < x->defer) return 0;
        x->defer = 0;
        (void)tables_flush(x);
    } else if (x->p ? n - x->nd >= PEND : n >= STORE_PDQ_MIH_MIN) {
        (void)tables_flush(x); /* a failure leaves entries pending, still found */
    }
    return 0;
}

/* Removes slot s. With tables: its words leave them and the slot is dead until the next
 * rebuild. Without: the last slot moves into it. */
static void slot_remove(struct store_pdq *x, uint32_t s)
{
    if (x->idlen) {
        size_t cell = idmap_find(x, id_of(x, s), s);
        if (cell < x->idcap) idmap_delete(x, cell);
    }
    if (x->p) {
        tables_unlink(x, s);
        set_dead(x, s);
        return;
    }
    uint32_t last = (uint32_t)x->n - 1;
    if (s != last) {
        memcpy(x->h[s], x->h[last], sizeof *x->h);
        if (x->idlen) {
            size_t cell = idmap_find(x, id_of(x, last), last);
            if (cell < x->idcap) x->idmap[cell] = s;
            memcpy(x->id + (size_t)s * x->idlen, id_of(x, last), x->idlen);
        }
    }
    x->n--;
}

/* Removes slot s, which has tables, leaving its words in them: queries and removes pass over
 * dead slots, and the next rebuild of each table leaves them out. */
static void slot_kill(struct store_pdq *x, uint32_t s)
{
    if (x->idlen) {
        size_t cell = idmap_find(x, id_of(x, s), s);
        if (cell < x->idcap) idmap_delete(x, cell);
    }
    set_dead(x, s);
    x->nkill++;
}

/* After removes: a rebuild once the dead slots pass their share (the owner's call). */
static void after_remove(struct store_pdq *x)
{
    if (x->p && x->ndead > nt_min(x) / DEAD_DIV && !x->defer && !x->async) (void)tables_flush(x);
}

size_t store_pdq_remove(struct store_pdq *x, const uint8_t id[static PROTO_ID_LEN])
{
    if (x->n == 0 || !x->idlen) return 0;
    uint8_t key[PROTO_ID_LEN];
    memcpy(key, id, x->idlen); /* id may point into the index itself */
    size_t removed = 0;
    for (;;) {
        size_t cell = idmap_find(x, key, NONE);
        if (cell == x->idcap) break;
        slot_remove(x, x->idmap[cell]);
        removed++;
    }
    if (removed) after_remove(x);
    return removed;
}

/* A live slot holding hash w (and id key, if the index has ids), or NONE: through table 0's
 * bucket (compact part and delta) and the pending slots, or a scan without tables. */
static uint32_t find_hash(const struct store_pdq *x, const uint64_t w[4], const uint8_t *key)
{
#define MATCHES(s) (!is_dead(x, s) && !memcmp(x->h[s], w, 32) && (!x->idlen || id_eq(x, s, key)))
    if (!x->p) {
        for (size_t s = 0; s < x->n; s++)
            if (MATCHES(s)) return (uint32_t)s;
        return NONE;
    }
    const struct table *t = &x->t[0];
    uint32_t word, b = bucket_of(x, w, 0, &word, 0);
    uint32_t smask = (1u << t->sb) - 1;
    uint32_t lo = t->off[b] & OFF_MASK, hi = t->off[b + 1] & OFF_MASK;
    for (uint32_t j = lo; j < hi; j++) {
        uint32_t v = t->w[j], s = v & smask;
        if (v != TOMB && (v ^ word) >> t->sb == 0 && MATCHES(s)) return s;
    }
    if (t->off[b] & FLAG)
        for (size_t i = dhome(b, t->dcap); t->d[i].b1 != 0; i = (i + 1) & (t->dcap - 1)) {
            uint32_t v = t->d[i].w, s = v & smask;
            if (t->d[i].b1 == b + 1 && (v ^ word) >> t->sb == 0 && MATCHES(s)) return s;
        }
    for (size_t s = x->nd; s < x->n; s++)
        if (MATCHES(s)) return (uint32_t)s;
    return NONE;
#undef MATCHES
}

size_t store_pdq_remove_hash(struct store_pdq *x, const uint8_t hash[static 32], const uint8_t *id)
{
    if (x->n == 0) return 0;
    uint8_t key[PROTO_ID_LEN];
    uint64_t w[4];
    if (x->idlen) memcpy(key, id, x->idlen);
    pdq_load(w, hash);
    size_t removed = 0;
    for (;;) {
        uint32_t s = find_hash(x, w, key);
        if (s == NONE) break;
        slot_remove(x, s);
        removed++;
        if (!x->idlen) break; /* without ids: one entry equal to hash */
    }
    if (removed) after_remove(x);
    return removed;
}

/* ---- maintenance by jobs: prepared off the owner's thread, committed on it ---- */

enum job_kind { JOB_TABLE, JOB_GROW, JOB_FULL };

struct store_pdq_job {
    enum job_kind kind;
    int rc;
    const uint64_t (*h)[4]; /* the pinned arrays (x->pin_h, x->pin_id) */
    const uint8_t *id;
    size_t idlen;
    uint64_t *dead;       /* JOB_TABLE, JOB_FULL: the dead bits of [0, nslots) at begin, or NULL */
    size_t nslots;        /* the slots read: [0, nd) for JOB_TABLE, [0, n) for the others */
    size_t cap;           /* JOB_GROW, JOB_FULL: the new arrays' room */
    int table, p;         /* JOB_TABLE: which table, with 2^p buckets */
    struct table t;       /* JOB_TABLE's result */
    uint64_t (*nh)[4];    /* JOB_GROW's results */
    uint8_t *nid;         /* (idlen bytes per slot) */
    struct store_pdq *nx; /* JOB_FULL's result: an index of the live slots, renumbered */
    /* After the commit: what it replaced (the old table in t, the old index in nx, arrays
     * here), freed by store_pdq_job_free on any thread: unmapping the old index at 10M
     * (900 MB) held the owner 140 ms. */
    struct {
        void *p;
        size_t bytes;
    } junk[4];
    int njunk;
};

static void junk(struct store_pdq_job *j, void *p, size_t bytes)
{
    if (j && j->njunk < (int)(sizeof j->junk / sizeof j->junk[0])) {
        j->junk[j->njunk].p = p;
        j->junk[j->njunk++].bytes = bytes;
    } else {
        arr_free(p, bytes);
    }
}

/* Free room below which a job grows the arrays: 1/32 of them (330,000 slots at 10M, more
 * adds than arrive while any job runs). store_pdq_reserve leaves more than that. */
static size_t room_margin(size_t cap)
{
    return cap / 32 > PEND ? cap / 32 : PEND;
}

/* The table rebuilt next: the one with the oldest compact part, if its delta is past its
 * share; else -1. */
static int table_due(const struct store_pdq *x)
{
    int o = 0;
    for (int i = 1; i < M; i++)
        if (x->t[i].nt < x->t[o].nt) o = i;
    return x->nd - x->t[o].nt > x->t[o].nt / DELTA_DIV ? o : -1;
}

void store_pdq_set_async(struct store_pdq *x, int on)
{
    x->async = on != 0;
}

int store_pdq_job_begin(struct store_pdq *x, struct store_pdq_job **out)
{
    *out = NULL;
    if (x->job || !x->p || x->defer || x->n < x->retry) return 0;
    enum job_kind kind;
    int table = -1;
    if (x->ndead > nt_min(x) / DEAD_DIV || x->n >= slot_limit(x))
        kind = JOB_FULL;
    else if (x->cap - x->n < room_margin(x->cap) && x->cap < SLOTS_MAX)
        kind = JOB_GROW;
    else if ((table = table_due(x)) >= 0)
        kind = JOB_TABLE;
    else
        return 0;
    struct store_pdq_job *j = calloc(1, sizeof *j);
    if (!j) return -ENOMEM;
    j->kind = kind;
    j->h = (const uint64_t(*)[4])x->h;
    j->id = x->id;
    j->idlen = x->idlen;
    j->nslots = kind == JOB_TABLE ? x->nd : x->n;
    if (kind != JOB_GROW && x->ndead) {
        /* A copy: removes meanwhile set bits in x->dead, and the commit tells them by it. */
        size_t words = (j->nslots + 63) / 64;
        j->dead = malloc(words * sizeof *j->dead);
        if (!j->dead) {
            free(j);
            return -ENOMEM;
        }
        memcpy(j->dead, x->dead, words * sizeof *j->dead);
    }
    if (kind == JOB_TABLE) {
        j->table = table;
        j->p = p_for(x->nd - x->ndead);
    } else {
        j->cap = kind == JOB_FULL ? x->cap : x->cap + x->cap / 4;
        if (j->cap > SLOTS_MAX) j->cap = SLOTS_MAX;
    }
    x->pin_h = x->h;
    x->pin_hcap = x->hcap;
    x->pin_id = x->id;
    x->pin_idncap = x->idncap;
    x->job = j;
    *out = j;
    return 0;
}

static int job_dead(const struct store_pdq_job *j, size_t s)
{
    return j->dead && (j->dead[s >> 6] >> (s & 63) & 1);
}

/* JOB_FULL: the live slots of the snapshot, in order, in a new index, and its tables built
 * (on this thread only: the owner keeps the other core). */
static int full_build(struct store_pdq_job *j)
{
    struct store_pdq *nx = calloc(1, sizeof *nx);
    if (!nx) return -ENOMEM;
    j->nx = nx;
    nx->idlen = j->idlen;
    int rc = slots_reserve(nx, j->cap);
    if (rc == 0 && nx->idlen) rc = idmap_reserve(nx, j->nslots);
    if (rc) return rc;
    size_t m = 0;
    for (size_t s = 0; s < j->nslots; s++) {
        if (job_dead(j, s)) continue;
        memcpy(nx->h[m], j->h[s], sizeof *nx->h);
        if (nx->idlen) {
            memcpy(nx->id + m * nx->idlen, j->id + s * nx->idlen, nx->idlen);
            idmap_put(nx, (uint32_t)m);
        }
        m++;
    }
    nx->n = m;
    /* Not sorted: commit_full finds the slots of what changed meanwhile by their order. */
    return tables_build(nx, 1, 0);
}

void store_pdq_job_run(struct store_pdq_job *j)
{
    switch (j->kind) {
    case JOB_TABLE:
        j->rc = table_build(j->h, j->dead, j->table, j->p, j->nslots, &j->t);
        break;
    case JOB_GROW:
        j->nh = arr_resize(NULL, 0, j->cap, sizeof *j->nh);
        if (j->idlen) j->nid = arr_resize(NULL, 0, j->cap, j->idlen);
        if (!j->nh || (j->idlen && !j->nid)) {
            j->rc = -ENOMEM;
            break;
        }
        memcpy(j->nh, j->h, j->nslots * sizeof *j->nh);
        if (j->idlen) memcpy(j->nid, j->id, j->nslots * j->idlen);
        break;
    case JOB_FULL:
        j->rc = full_build(j);
        break;
    }
}

/* The bits of dead-bitmap word w that stand for slots below nslots. */
static uint64_t word_mask(size_t w, size_t nslots)
{
    size_t lo = w * 64;
    return nslots - lo >= 64 ? ~0ull : (1ull << (nslots - lo)) - 1;
}

/* JOB_TABLE: the new table for the index as it is now (the compact part as it was at begin,
 * minus the slots removed since, and the slots put in the tables since in its delta), in place
 * of the old one. */
static int commit_table(struct store_pdq *x, struct store_pdq_job *j)
{
    struct table *t = &j->t;
    int i = j->table;
    if (x->nd >= ((size_t)1 << t->sb) - 1) return -ERANGE; /* cannot happen: p grows with n */
    for (size_t w = 0; w < (j->nslots + 63) / 64; w++) {
        uint64_t gone = x->dead[w] & ~(j->dead ? j->dead[w] : 0) & word_mask(w, j->nslots);
        for (; gone; gone &= gone - 1) {
            uint32_t s = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(gone));
            table_unlink(t, i, x->h[s], s);
        }
    }
    for (size_t s = j->nslots; s < x->nd; s++) {
        if (is_dead(x, s)) continue;
        if (delta_room(t)) return -ENOMEM;
        uint32_t word, b = table_bucket(t, i, x->h[s], &word, (uint32_t)s);
        delta_put_cell(t, b, word);
        t->off[b] |= FLAG;
    }
    struct table old = x->t[i];
    x->t[i] = *t;
    *t = old;
    return 0;
}

/* JOB_GROW: the copies, with the slots added since, in place of the arrays. */
static int commit_grow(struct store_pdq *x, struct store_pdq_job *j)
{
    if (x->hcap >= j->cap) return 0; /* an add found no room and grew them meanwhile */
    if (dead_reserve(x, j->cap)) return -ENOMEM;
    size_t tail = x->n - j->nslots;
    memcpy(j->nh + j->nslots, x->h + j->nslots, tail * sizeof *x->h);
    if (x->h != x->pin_h) junk(j, x->h, x->hcap * sizeof *x->h);
    x->h = j->nh;
    x->hcap = j->cap;
    j->nh = NULL;
    if (x->idlen) {
        memcpy(j->nid + j->nslots * x->idlen, x->id + j->nslots * x->idlen, tail * x->idlen);
        if (x->id != x->pin_id) junk(j, x->id, x->idncap * x->idlen);
        x->id = j->nid;
        x->idncap = j->cap;
        j->nid = NULL;
    }
    x->cap = j->cap;
    return 0;
}

/* JOB_FULL: the new index, brought up to date (the removes since begin, then the adds since
 * that are still live), in place of the old one. */
static int commit_full(struct store_pdq *x, struct store_pdq_job *j)
{
    struct store_pdq *nx = j->nx;
    /* The removes since begin: with tables, only the dead bit (and the id map), not the
     * eleven tombstones each (a second of removes at 100,000/s took 130-220 ms to replay so);
     * without, the last slot moves into the hole, so from the last slot down (the slots above
     * it are done with by then). */
    size_t live = nx->n;
    for (size_t w = (j->nslots + 63) / 64; w-- > 0;) {
        uint64_t was = ~(j->dead ? j->dead[w] : 0) & word_mask(w, j->nslots);
        live -= (size_t)__builtin_popcountll(was); /* now: live slots before word w */
        for (uint64_t gone = x->dead[w] & was; gone;) {
            int b = 63 - __builtin_clzll(gone);
            gone &= ~(1ull << b);
            uint32_t r = (uint32_t)(live + (size_t)__builtin_popcountll(was & ((1ull << b) - 1)));
            if (nx->p)
                slot_kill(nx, r);
            else
                slot_remove(nx, r);
        }
    }
    for (size_t s = j->nslots; s < x->n; s++) {
        if (is_dead(x, s)) continue;
        size_t m = nx->n;
        int rc = slots_reserve(nx, m + 1);
        if (rc == 0 && nx->idlen) rc = idmap_reserve(nx, nx->nid + 1);
        if (rc) return rc;
        memcpy(nx->h[m], x->h[s], sizeof *nx->h);
        if (nx->idlen) {
            memcpy(nx->id + m * nx->idlen, id_of(x, s), nx->idlen);
            idmap_put(nx, (uint32_t)m);
        }
        nx->n = m + 1;
    }
    if (nx->p && nx->n < slot_limit(nx)) (void)delta_add_pending(nx); /* else pending: scanned */
    /* x and nx trade places: nx, the old index, goes with the job (its pinned arrays too,
     * when they are still its own). */
    struct store_pdq old = *x;
    *x = *nx;
    x->async = old.async;
    x->job = old.job;
    x->pin_h = old.pin_h == old.h ? NULL : old.pin_h;
    x->pin_id = old.pin_id == old.id ? NULL : old.pin_id;
    x->pin_hcap = old.pin_hcap;
    x->pin_idncap = old.pin_idncap;
    old.job = NULL;
    old.pin_h = NULL;
    old.pin_id = NULL;
    *nx = old;
    return 0;
}

int store_pdq_job_commit(struct store_pdq *x, struct store_pdq_job *j)
{
    int rc = j->rc;
    if (rc == 0 && j->kind == JOB_TABLE) rc = commit_table(x, j);
    if (rc == 0 && j->kind == JOB_GROW) rc = commit_grow(x, j);
    if (rc == 0 && j->kind == JOB_FULL) rc = commit_full(x, j);
    if (rc) x->retry = 2 * x->n; /* as after a failed build: not before the count doubles */
    x->job = NULL;
    unpin(x, j);
    return rc;
}

const char *store_pdq_job_name(const struct store_pdq_job *j)
{
    return j->kind == JOB_TABLE ? "table" : j->kind == JOB_GROW ? "grow" : "full";
}

void store_pdq_job_drop(struct store_pdq *x, struct store_pdq_job *j)
{
    if (!j) return;
    if (x->job == j) {
        x->job = NULL;
        unpin(x, j);
    }
    store_pdq_job_free(j);
}

void store_pdq_job_free(struct store_pdq_job *j)
{
    if (!j) return;
    for (int i = 0; i < j->njunk; i++)
        arr_free(j->junk[i].p, j->junk[i].bytes);
    table_free(&j->t);
    arr_free(j->nh, j->cap * sizeof *j->nh);
    arr_free(j->nid, j->cap * j->idlen);
    store_pdq_free(j->nx);
    free(j->dead);
    free(j);
}

int store_pdq_maintain(struct store_pdq *x)
{
    for (;;) {
        struct store_pdq_job *j;
        int rc = store_pdq_job_begin(x, &j);
        if (rc || !j) return rc;
        store_pdq_job_run(j);
        rc = store_pdq_job_commit(x, j);
        store_pdq_job_free(j);
        if (rc) return rc;
    }
}

/* ---- queries ---- */

/*
 * An answer keeps the best `max` hits in the caller's array, sorted, while they are found:
 * during the query a hit holds only its distance, its slot (in hash[0..3]) and, without ids,
 * the first 8 bytes of its hash as a big-endian number (in hash[8..15]), which orders most
 * ties without reading the hashes; the ids and hashes are copied in at the end.
 */
struct answer {
    const struct store_pdq *x;
    struct store_pdq_hit *hits;
    size_t max, kept, total;
};

static uint32_t hit_slot(const struct store_pdq_hit *h)
{
    uint32_t s;
    memcpy(&s, h->hash, 4);
    return s;
}

static uint64_t hit_key(const struct store_pdq_hit *h)
{
    uint64_t k;
    memcpy(&k, h->hash + 8, 8);
    return k;
}

/* The first 8 bytes of slot s's hash, so that comparing numbers compares them as memcmp. */
static uint64_t slot_key(const struct store_pdq *x, uint32_t s)
{
    const uint8_t *b = (const uint8_t *)x->h[s];
    uint64_t k = 0;
    for (int i = 0; i < 8; i++)
        k = k << 8 | b[i];
    return k;
}

/* Orders (d, slot) pairs by distance, then id, then hash. */
static int slot_cmp(const struct store_pdq *x, int da, uint32_t a, int db, uint32_t b)
{
    if (da != db) return da < db ? -1 : 1;
    int c = x->idlen ? memcmp(id_of(x, a), id_of(x, b), x->idlen) : 0;
    return c ? c : memcmp(x->h[a], x->h[b], 32);
}

/* Orders a candidate (d, slot s, key) against hit h, as slot_cmp. */
static int hit_cmp(const struct store_pdq *x, int d, uint32_t s, uint64_t key,
                   const struct store_pdq_hit *h)
{
    if (d != h->distance) return d < h->distance ? -1 : 1;
    if (!x->idlen && key != hit_key(h)) return key < hit_key(h) ? -1 : 1;
    return slot_cmp(x, d, s, h->distance, hit_slot(h));
}

static void answer_add(struct answer *a, uint32_t s, int d)
{
    a->total++;
    if (a->max == 0) return;
    if (a->kept == a->max && d > a->hits[a->max - 1].distance) return;
    uint64_t key = a->x->idlen ? 0 : slot_key(a->x, s);
    if (a->kept == a->max && hit_cmp(a->x, d, s, key, &a->hits[a->max - 1]) >= 0) return;
    size_t i = a->kept < a->max ? a->kept++ : a->max - 1;
    while (i > 0 && hit_cmp(a->x, d, s, key, &a->hits[i - 1]) < 0) {
        a->hits[i] = a->hits[i - 1];
        i--;
    }
    a->hits[i].distance = d;
    memcpy(a->hits[i].hash, &s, 4);
    memcpy(a->hits[i].hash + 8, &key, 8);
}

static void answer_finish(struct answer *a)
{
    const struct store_pdq *x = a->x;
    for (size_t i = 0; i < a->kept; i++) {
        struct store_pdq_hit *h = &a->hits[i];
        uint32_t s = hit_slot(h);
        memset(h->id, 0, sizeof h->id);
        if (x->idlen) memcpy(h->id, id_of(x, s), x->idlen);
        memcpy(h->hash, x->h[s], 32);
    }
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
    int p = x->t[0].p;
    double n = (double)x->n, visits = 0, cands = 0, per = n / (double)(1u << p);
    for (int i = 0; i < M; i++) {
        if (t[i] < 0) continue;
        visits += ball(p, t[i]);
        cands += ball(CH_BITS[i], t[i]) * n / (double)(1u << CH_BITS[i]);
    }
    return visits * (2 + per * 0.05) + cands * 1.5 < n * 0.1;
}

/* Scans slots [lo, hi) for every query of a batch, sharing each block of hashes. Dead slots
 * (removed, waiting for a rebuild) are passed over. */
static void scan(const struct store_pdq *x, size_t lo, size_t hi, const uint64_t (*q)[4], size_t nq,
                 int r, struct answer *a)
{
    const size_t block = 2048; /* 64 KiB of hashes: stays in L2 across the batch */
    for (size_t b = lo; b < hi; b += block) {
        size_t e = b + block < hi ? b + block : hi;
        for (size_t k = 0; k < nq; k++) {
            for (size_t s = b; s < e; s++) {
                int d = dist_words(q[k], x->h[s]);
                if (d <= r && !is_dead(x, s)) answer_add(&a[k], (uint32_t)s, d);
            }
        }
    }
}

/* One table query in flight. Visits go through a ring: a visit's offsets are requested when
 * it is pushed, read LAG1 pushes later (requesting its words, and its delta cells if the
 * bucket has any), and its words are scanned LAG2 pushes later, so that a dozen misses are in
 * flight instead of one. Candidates go through a second ring: their hashes are requested when
 * found and checked CLAG candidates later. */
#ifndef LAG1
#define LAG1 16
#endif
#ifndef LAG2
#define LAG2 32
#endif
#define RING 64
#define CRING 1024
#define CLAG 48
#define SCAN_BLOCK 64
/* The probe's stages, inlined into the query loop (GCC kept them calls): 2-3% more queries
 * per second at 10M. */
#define PROBE_STAGE static inline __attribute__((always_inline))
/* Cells of a query's set of reported slots; when half are used, the set stops growing. */
#define RSET_BITS 12
#define RSET (1u << RSET_BITS)

struct visit {
    const uint32_t *off; /* &off[b] */
    uint32_t lo, hi;     /* off[b] (FLAG included) and off[b + 1] */
    uint32_t qres;
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
    size_t head;         /* visits pushed */
    size_t chead, ctail; /* candidates pushed, checked */
    uint32_t cs[CRING];
    uint8_t ct[CRING];
    uint32_t rs[RSET]; /* slots reported so far, plus one (0: an empty cell) */
    size_t nr;         /* cells used; at RSET / 2 the set is full */
};

/* Whether no table before ct sees h (so table ct is the first whose probe reaches it). */
static int first_table(const struct probe *pr, const uint64_t *h, int ct)
{
    for (int j = 0; j < ct; j++)
        if (pr->t[j] >= 0 && __builtin_popcount(chunk(h, j) ^ pr->qc[j]) <= pr->t[j]) return 0;
    return 1;
}

/*
 * Checks candidates until at most `keep` are unchecked. Close entries are found by several
 * tables (on the clustered set, 616 answers a query came as 4,808 candidates within the
 * radius), and each must be reported once. Tables are probed in order, so an entry's first
 * appearance comes from the first table that sees it: the first pass keeps the candidates
 * within the radius without a branch (which half of them are is unpredictable), and the second
 * reports those not yet in the query's set of reported slots. Once that set is full, a
 * candidate missing from it is reported only if no earlier table sees it.
 */
PROBE_STAGE void probe_verify(struct probe *pr, size_t keep)
{
    const struct store_pdq *x = pr->x;
    uint16_t pk[CRING], pd[CRING];
    size_t np = 0;
    for (; pr->chead - pr->ctail > keep; pr->ctail++) {
        size_t k = pr->ctail % CRING;
        int d = dist_words(pr->q, x->h[pr->cs[k]]);
        pk[np] = (uint16_t)k;
        pd[np] = (uint16_t)d;
        np += d <= pr->r;
    }
    for (size_t i = 0; i < np; i++) {
        uint32_t s = pr->cs[pk[i]];
        size_t c = (uint32_t)(s * 0x9e3779b1u) >> (32 - RSET_BITS);
        while (pr->rs[c] && pr->rs[c] != s + 1)
            c = (c + 1) & (RSET - 1);
        if (pr->rs[c]) continue;
        int full = pr->nr == RSET / 2;
        if (full && !first_table(pr, x->h[s], pr->ct[pk[i]])) continue;
        /* Dead: removed while a full rebuild ran, its words left in the tables (commit_full).
         * Only then: the bit is a cache miss. */
        if (x->nkill && is_dead(x, s)) continue;
        if (!full) {
            pr->rs[c] = s + 1;
            pr->nr++;
        }
        answer_add(pr->a, s, pd[i]);
    }
}

PROBE_STAGE void visit_open(struct probe *pr, struct visit *v)
{
    const struct table *t = &pr->x->t[v->table];
    uint32_t lo = v->off[0], hi = v->off[1] & OFF_MASK;
    v->lo = lo;
    v->hi = hi;
    lo &= OFF_MASK;
    __builtin_prefetch(t->w + lo);
    if (hi - lo > 1) __builtin_prefetch(t->w + hi - 1);
    if (v->lo & FLAG) __builtin_prefetch(&t->d[dhome((uint32_t)(v->off - t->off), t->dcap)]);
}

/* Pushes the candidates among words w[0..n) (at most SCAN_BLOCK). */
PROBE_STAGE void scan_words(struct probe *pr, const uint32_t *w, uint32_t n, int sb, uint32_t qres,
                            int tol, int table)
{
    const struct store_pdq *x = pr->x;
    uint32_t smask = (1u << sb) - 1;
    if (pr->chead - pr->ctail + n > CRING) probe_verify(pr, CLAG);
    size_t c0 = pr->chead, c = c0;
    /* Branch-free: most words fail, unpredictably. */
    uint32_t j = 0;
#ifdef __SSE2__
    /* Four words at a time: popcount(v) <= tol when clearing the lowest set bit tol times
     * leaves nothing. */
    const __m128i vq = _mm_set1_epi32((int)qres), one = _mm_set1_epi32(1),
                  tomb = _mm_set1_epi32((int)TOMB), zero = _mm_setzero_si128();
    const __m128i shift = _mm_cvtsi32_si128(sb);
    for (; j + 4 <= n; j += 4) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(w + j));
        __m128i d = _mm_xor_si128(_mm_srl_epi32(v, shift), vq);
        for (int k = 0; k < tol; k++)
            d = _mm_and_si128(d, _mm_sub_epi32(d, one));
        __m128i ok = _mm_andnot_si128(_mm_cmpeq_epi32(v, tomb), _mm_cmpeq_epi32(d, zero));
        unsigned m = (unsigned)_mm_movemask_ps(_mm_castsi128_ps(ok));
        pr->cs[c % CRING] = w[j] & smask;
        c += m & 1;
        pr->cs[c % CRING] = w[j + 1] & smask;
        c += m >> 1 & 1;
        pr->cs[c % CRING] = w[j + 2] & smask;
        c += m >> 2 & 1;
        pr->cs[c % CRING] = w[j + 3] & smask;
        c += m >> 3;
    }
#endif
    for (; j < n; j++) {
        uint32_t word = w[j];
        pr->cs[c % CRING] = word & smask;
        c += (word != TOMB) & (__builtin_popcount((word >> sb) ^ qres) <= tol);
    }
    for (size_t k = c0; k < c; k++) {
        __builtin_prefetch(x->h[pr->cs[k % CRING]]);
        pr->ct[k % CRING] = (uint8_t)table;
    }
    pr->chead = c;
}

PROBE_STAGE void visit_scan(struct probe *pr, const struct visit *v)
{
    const struct table *t = &pr->x->t[v->table];
    int sb = t->sb;
    uint32_t lo = v->lo & OFF_MASK, n = v->hi - lo;
    const uint32_t *w = t->w + lo;
    if (n > 16) __builtin_prefetch(w + 16);
    if (n > 32) __builtin_prefetch(w + 32);
    for (uint32_t j0 = 0; j0 < n; j0 += SCAN_BLOCK) {
        uint32_t jn = n - j0 < SCAN_BLOCK ? n - j0 : SCAN_BLOCK;
        if (j0 + SCAN_BLOCK < n) __builtin_prefetch(w + j0 + SCAN_BLOCK + 32);
        scan_words(pr, w + j0, jn, sb, v->qres, v->tol, v->table);
    }
    if (v->lo & FLAG) {
        /* The bucket's delta words: a short run of cells from the bucket's home. */
        uint32_t buf[SCAN_BLOCK], nb = 0, b = (uint32_t)(v->off - t->off);
        for (size_t i = dhome(b, t->dcap); t->d[i].b1 != 0; i = (i + 1) & (t->dcap - 1)) {
            if (t->d[i].b1 != b + 1) continue;
            buf[nb++] = t->d[i].w;
            if (nb == SCAN_BLOCK) {
                scan_words(pr, buf, nb, sb, v->qres, v->tol, v->table);
                nb = 0;
            }
        }
        if (nb) scan_words(pr, buf, nb, sb, v->qres, v->tol, v->table);
    }
    if (pr->chead - pr->ctail > CLAG) probe_verify(pr, CLAG);
}

static void probe_push(struct probe *pr, int i, uint32_t bucket, int tol)
{
    const struct table *t = &pr->x->t[i];
    struct visit *v = &pr->v[pr->head % RING];
    v->off = &t->off[bucket];
    __builtin_prefetch(v->off);
    if ((bucket & 15) == 15) __builtin_prefetch(v->off + 1);
    v->qres = pr->qc[i] >> t->p;
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
    probe_verify(pr, 0);
}

static void query_tables(const struct store_pdq *x, const uint64_t q[4], int r, struct answer *a)
{
    struct probe pr;
    pr.x = x;
    memcpy(pr.q, q, sizeof pr.q);
    pr.r = r;
    pr.a = a;
    pr.head = 0;
    pr.chead = pr.ctail = 0;
    memset(pr.rs, 0, sizeof pr.rs);
    pr.nr = 0;
    probe_radii(r, pr.t);
    for (int i = 0; i < M; i++)
        pr.qc[i] = chunk(q, i);
    for (int i = 0; i < M; i++) {
        int p = x->t[i].p;
        uint32_t pmask = (1u << p) - 1, base = pr.qc[i] & pmask;
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

static void answer_init(struct answer *a, const struct store_pdq *x, struct store_pdq_hit *hits,
                        size_t max)
{
    a->x = x;
    a->hits = hits;
    a->max = hits ? max : 0;
    a->kept = a->total = 0;
}

size_t store_pdq_query(const struct store_pdq *x, const uint8_t q[static 32], int max_distance,
                       struct store_pdq_hit *hits, size_t max)
{
    if (max_distance < 0 || x->n == 0) return 0;
    if (max_distance > 256) max_distance = 256;
    struct answer a;
    answer_init(&a, x, hits, max);
    uint64_t qw[4];
    pdq_load(qw, q);
    if (use_tables(x, max_distance)) {
        query_tables(x, qw, max_distance, &a);
        scan(x, x->nd, x->n, (const uint64_t(*)[4]) & qw, 1, max_distance, &a);
    } else {
        scan(x, 0, x->n, (const uint64_t(*)[4]) & qw, 1, max_distance, &a);
    }
    answer_finish(&a);
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
            answer_init(&a[k], x, hits ? hits + (k0 + k) * max : NULL, max);
        }
        scan(x, 0, x->n, (const uint64_t(*)[4])qw, g, max_distance, a);
        for (size_t k = 0; k < g; k++) {
            answer_finish(&a[k]);
            totals[k0 + k] = a[k].total;
        }
    }
    return 0;
}
