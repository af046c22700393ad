/*
 * Peer links. Each link is a TCP connection carrying TLS (a memory-BIO engine: this file moves
 * ciphertext between it and the socket) carrying frames. A link is trusted only after the
 * handshake proved a key that is a current member and the peer's HELLO named that key.
 *
 * Replication is exact and pull-based: each side sends its version vector (origin -> highest
 * contiguous seq) on connect and every VV_INTERVAL_MS; a node asks a peer that is ahead for
 * the missing ranges (WANT), one WANT in flight per link, and the answer (RECORDS) goes
 * through the same durable group-commit ingest as the API. Reading from a peer pauses while
 * its records are being written, so a fast peer cannot queue unbounded work. On top of that,
 * every record a node accepts is pushed at once to every ready peer; receivers drop
 * duplicates by id before any signature work.
 */
#include "node/net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/api_json.h"
#include "node/node.h"
#include "node/tls.h"
#include "protocol/peer.h"
#include "util/gif.h"

#define PEERS_MAX 64
#define PEERS_TARGET 8 /* advertised addresses are dialled only while fewer links are ready */
#define ADV_MAX 32     /* addresses learnt from membership records */
#define SLOTS_MAX (CONFIG_SEEDS_MAX + ADV_MAX)
#define PEER_IN_MAX (PEER_HEADER_LEN + PEER_FRAME_MAX) /* plaintext waiting to be parsed */
#define PEER_OUT_LIMIT (8u * 1024 * 1024)              /* plaintext frames queued for one peer */
#define PEER_PRIO_LIMIT (2u * 1024 * 1024) /* alerts and revocations queued for one peer */
#define READ_CHUNK (64 * 1024)
#define PULL_CHUNK 1000 /* seqs asked per origin per WANT */
/* An origin whose records are arriving by push right now, and that a peer shows at most
 * PULL_LIVE_GAP seqs ahead, is not pulled: those records are in flight to us, and pulling them
 * too only brings duplicates (and, with pulled batches announced by version vector, a storm
 * of them). The next version vector pulls whatever is still missing then. */
#define PULL_LIVE_GAP 64
#define PULL_GRACE_MS 1000
#define VV_INTERVAL_MS 10000
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 2000 /* a healed partition waits at most this for its links */
#define HANDSHAKE_TIMEOUT_MS 10000
#define MISS_MAX 256 /* announced records awaited per link */
/* How long an announced record may take to arrive by push before it is grafted: adapted, as
 * TCP adapts its retransmission timeout, to the lag this node sees between an announcement
 * and the push of the same record (smoothed lag + 4 x its mean deviation), within these
 * bounds. A fixed 100 ms made a loaded host graft records whose push was merely slow; every
 * such graft adds an eager link, a duplicate and a prune (docs/network.md). */
#define GRAFT_MIN_MS 100
#define GRAFT_MAX_MS 1000
#define GRAFT_TICK_MS 20 /* also how long announcements wait to share an IHAVE frame */
#define IHAVE_BATCH 256  /* announcements queued per link before an early flush */
/* Pushed frames of one link written at once before reading pauses: a push is forwarded on
 * receipt (cut-through), so the next one need not wait for the previous one's fsync. */
#define PUSH_INFLIGHT_MAX 8

#define ORIGINS_MAX 1024 /* origins with a tree of their own; beyond that, always eager */
#define ORIGIN_SLOTS 2048
enum pstate { PS_CONNECTING, PS_TLS, PS_HELLO, PS_READY, PS_CLOSING };
static const char *const pstate_names[] = {"connecting", "tls", "hello", "ready", "closing"};

struct peer {
    struct node *n;
    struct peer *next;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_timer_t timer;
    int handles; /* open uv handles; the struct is freed when none remain and no write waits */
    int seed;    /* index into the config's seeds for a dialled link, -1 for an accepted one */
    enum pstate state;
    struct tls_conn *tls;
    uint8_t key[PROTO_KEY_LEN];
    char org[TLS_ORG_MAX + 1];
    char addr[80];
    uint8_t *rbuf; /* socket reads land here */
    uint8_t *in;   /* decrypted bytes not yet parsed into frames */
    size_t in_len;
    struct peer_buf out;  /* frames not yet encrypted */
    struct peer_buf prio; /* alerts and revocations: sent ahead of out */
    struct peer_buf *cur; /* the queue whose front frame is partly encrypted */
    size_t cur_left;      /* bytes of that frame still to encrypt (0: at a boundary) */
    uint8_t *wbuf;        /* ciphertext of the uv_write in flight */
    bool writing;
    bool close_after_write; /* closing: send what is left once the write in flight is done */
    bool closing_handles;
    uv_shutdown_t sreq;
    bool hello_got;
    struct peer_entry *vv; /* the peer's last version vector */
    size_t nvv;
    bool want_out; /* a WANT awaits its RECORDS */
    /* Plumtree, one tree per origin: bit i set = announce (IHAVE) rather than push payloads
     * of origin i (net->okeys) on this link. */
    uint64_t lazy[ORIGINS_MAX / 64];
    struct missing { /* announced by this peer, not yet received */
        struct peer_entry e;
        uint64_t deadline_ms;
        uint64_t since_ms; /* when the announcement came */
    } miss[MISS_MAX];
    size_t nmiss;
    struct peer_entry *ihave; /* announcements not yet sent (lazy push), IHAVE_BATCH at most */
    size_t nihave;
    unsigned ingesting; /* RECORDS frames being written (PUSH_INFLIGHT_MAX pushes at most) */
    bool paused;        /* reading stopped: a pull answer, or too many pushes, being written */
    uint64_t ping_nonce, ping_ns;
    double rtt_ms;
    uint64_t sent, received, accepted, duplicates;
    char last_err[200];
};

struct seedslot {
    struct net *net;
    int index;
    char host[256];
    int port;
    bool advertised;            /* from a membership record, not the config: dialled only below
                                   PEERS_TARGET ready links */
    char last_err[200];         /* why the last link to this seed ended */
    uint8_t key[PROTO_KEY_LEN]; /* the member at this address, once a link was dropped as a */
    bool key_known;             /* duplicate of one that member dialled */
    uv_timer_t timer;
    bool timer_open;
    uint32_t backoff_ms;
    struct peer *p;
    uv_getaddrinfo_t gai;
    bool resolving;
};

/* A member that broke the protocol is refused for a while, longer each time. */
#define PENALTIES_MAX 64
#define PENALTY_MIN_MS 60000
#define PENALTY_MAX_MS 3600000
struct penalty {
    uint8_t key[PROTO_KEY_LEN];
    uint64_t until_ms;
    uint32_t strikes;
};

/* Which link is pulling which origin: each origin's range comes from one peer at a time, so
 * two peers that are both ahead do not both send the same records. A claim lapses after
 * PULL_CLAIM_MS (a silent peer), when its link closes, or when its answer is written. */
#define PULLS_MAX 512
#define PULL_CLAIM_MS 15000
struct pull {
    uint8_t origin[PROTO_KEY_LEN];
    const struct peer *peer;
    uint64_t until_ms;
};

/* Cut-through: a record pushed to us that passes every acceptance check against what is
 * stored (store_precheck) is forwarded at once, before it is durable here; the write follows.
 * This table remembers those records until the feed applies them (so they are not pushed
 * twice), answers GRAFTs for them meanwhile, and drops a second copy that arrives before the
 * first is written. Direct-mapped by (origin, seq): a collision only costs a redundant push. */
#define CUT_SLOTS 4096
#define CUT_FRAME_MAX 64 /* records in a frame for it to count as a push, not a bulk answer */
struct cut {
    uint8_t origin[PROTO_KEY_LEN];
    uint64_t seq;
    uint8_t id[PROTO_ID_LEN];
    uint8_t *rec; /* its bytes (malloc'd); NULL: slot empty */
    size_t len;
};

struct net {
    struct node *n;
    double lag_ms, lag_dev_ms; /* smoothed announcement-to-push lag and its mean deviation */
    bool lag_known;
    uint32_t graft_ms;                         /* the current graft timeout */
    uint8_t okeys[ORIGINS_MAX][PROTO_KEY_LEN]; /* origin index -> key */
    uint16_t oslots[ORIGIN_SLOTS];             /* open addressing over okeys: index + 1 */
    uint64_t opush_ms[ORIGINS_MAX];            /* when a push of that origin last arrived */
    size_t norigins;
    struct cut cut[CUT_SLOTS];
    uv_timer_t graft_timer;
    bool graft_timer_open;
    struct pull pulls[PULLS_MAX];
    size_t npulls;
    struct penalty penalties[PENALTIES_MAX];
    struct tls_ctx *tls;
    uv_tcp_t listener;
    bool listening;
    struct peer *peers;
    size_t npeers;
    struct seedslot seeds[SLOTS_MAX];
    size_t nslots;
    bool stopping;
};

static void peer_close(struct peer *p, const char *why);
static void flush(struct peer *p);
static void pump(struct peer *p);
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

/* ---- Lifetime. */

static void peer_maybe_free(struct peer *p)
{
    if (p->handles > 0 || p->ingesting || p->writing) return;
    tls_conn_free(p->tls);
    peer_buf_free(&p->out);
    peer_buf_free(&p->prio);
    free(p->rbuf);
    free(p->in);
    free(p->vv);
    free(p->ihave);
    free(p->wbuf);
    free(p);
}

static void handle_closed(uv_handle_t *h)
{
    struct peer *p = h->data;
    p->handles--;
    peer_maybe_free(p);
}

static void seed_retry(uv_timer_t *t);

static void pull_release(struct net *net, const struct peer *p);

/* Exponential backoff with jitter (so that restarted nodes do not redial in step), doubling up
 * to BACKOFF_MAX_MS. */
static void schedule_redial(struct seedslot *s)
{
    uint32_t jitter = (uint32_t)(gif_mono_ns() % (s->backoff_ms / 2 + 1));
    uv_timer_start(&s->timer, seed_retry, s->backoff_ms / 2 + jitter, 0);
    s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
}

static void unlink_peer(struct net *net, struct peer *p)
{
    pull_release(net, p);
    for (struct peer **pp = &net->peers; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            net->npeers--;
            break;
        }
    if (p->seed >= 0) {
        struct seedslot *s = &net->seeds[p->seed];
        s->p = NULL;
        snprintf(s->last_err, sizeof s->last_err, "%s", p->last_err);
        if (!net->stopping && s->timer_open) schedule_redial(s);
    }
}

static void close_handles(struct peer *p)
{
    if (p->closing_handles) return;
    p->closing_handles = true;
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, handle_closed);
    uv_close((uv_handle_t *)&p->tcp, handle_closed);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    (void)status;
    close_handles(req->data);
}

static void linger_cb(uv_timer_t *t)
{
    close_handles(t->data);
}

static void final_write_done(uv_write_t *req, int status)
{
    (void)status;
    free(req); /* the ciphertext lives in the same allocation */
}

#define LINGER_MS 2000

/* Writes the ciphertext still queued (a BYE, an alert), shuts the socket down once it is
 * written, then closes; at most LINGER_MS, so a peer that stopped reading cannot hold it. */
static void finish_close(struct peer *p, bool connected)
{
    if (connected && p->tls && !p->closing_handles) {
        size_t pending = tls_conn_pending(p->tls);
        if (pending) {
            uv_write_t *req = malloc(sizeof *req + pending);
            if (req) {
                uint8_t *buf = (uint8_t *)(req + 1);
                size_t got;
                tls_conn_take(p->tls, buf, pending, &got);
                uv_buf_t b = uv_buf_init((char *)buf, (unsigned)got);
                if (uv_write(req, (uv_stream_t *)&p->tcp, &b, 1, final_write_done) != 0) free(req);
            }
        }
        p->sreq.data = p;
        if (uv_shutdown(&p->sreq, (uv_stream_t *)&p->tcp, shutdown_cb) == 0) {
            uv_timer_stop(&p->timer);
            uv_timer_start(&p->timer, linger_cb, LINGER_MS, 0);
            return;
        }
    }
    close_handles(p);
}

static void peer_close(struct peer *p, const char *why)
{
    if (p->state == PS_CLOSING) return;
    struct net *net = p->n->net;
    if (why && *why) {
        snprintf(p->last_err, sizeof p->last_err, "%s", why);
        GIF_INFO("net", "link %s%s%s closed: %s", p->addr, p->org[0] ? " " : "", p->org, why);
    }
    enum pstate was = p->state;
    p->state = PS_CLOSING;
    unlink_peer(net, p);
    if (was != PS_CONNECTING) uv_read_stop((uv_stream_t *)&p->tcp);
    uv_timer_stop(&p->timer);
    if (p->writing) {
        /* Ciphertext must leave in order: what is queued follows the write in flight. */
        p->close_after_write = true;
        uv_timer_start(&p->timer, linger_cb, LINGER_MS, 0);
        return;
    }
    finish_close(p, was != PS_CONNECTING);
}

static struct penalty *penalty_of(struct net *net, const uint8_t key[PROTO_KEY_LEN])
{
    for (size_t i = 0; i < PENALTIES_MAX; i++)
        if (net->penalties[i].strikes && memcmp(net->penalties[i].key, key, PROTO_KEY_LEN) == 0)
            return &net->penalties[i];
    return NULL;
}

static void penalise(struct peer *p)
{
    struct net *net = p->n->net;
    struct penalty *pen = penalty_of(net, p->key);
    if (!pen) {
        /* Reuse the slot that expires first: the table stays bounded. */
        pen = &net->penalties[0];
        for (size_t i = 1; i < PENALTIES_MAX; i++)
            if (net->penalties[i].until_ms < pen->until_ms) pen = &net->penalties[i];
        memset(pen, 0, sizeof *pen);
        memcpy(pen->key, p->key, PROTO_KEY_LEN);
    }
    uint64_t ms = PENALTY_MIN_MS;
    for (uint32_t i = 0; i < pen->strikes && ms < PENALTY_MAX_MS; i++)
        ms *= 2;
    if (ms > PENALTY_MAX_MS) ms = PENALTY_MAX_MS;
    pen->strikes++;
    pen->until_ms = gif_now_ms() + ms;
    p->n->metrics.net_penalties++;
    GIF_WARN("net", "penalising %s (%s) for %llu s after a protocol violation (strike %u)", p->addr,
             p->org, (unsigned long long)(ms / 1000), pen->strikes);
}

/* Sends BYE with code and closes. */
static void peer_bye(struct peer *p, uint64_t code, const char *why)
{
    if (code == PEER_BYE_PROTOCOL && p->state >= PS_HELLO) penalise(p);
    if (p->tls && tls_conn_state(p->tls) == TLS_ESTABLISHED) {
        struct proto_str reason = {why, strlen(why)};
        if (peer_encode_bye(&p->prio, code, &reason) == 0) flush(p);
    }
    peer_close(p, why);
}

static struct peer *peer_new(struct net *net, int seed)
{
    struct peer *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = net->n;
    p->seed = seed;
    peer_buf_init(&p->out, PEER_OUT_LIMIT);
    peer_buf_init(&p->prio, PEER_PRIO_LIMIT);
    uv_tcp_init(net->n->loop, &p->tcp);
    uv_timer_init(net->n->loop, &p->timer);
    p->tcp.data = p->timer.data = p;
    p->handles = 2;
    p->next = net->peers;
    net->peers = p;
    net->npeers++;
    return p;
}

/* ---- Sending. */

static void write_done(uv_write_t *req, int status)
{
    struct peer *p = req->data;
    free(req);
    free(p->wbuf);
    p->wbuf = NULL;
    p->writing = false;
    if (p->state == PS_CLOSING) {
        if (p->close_after_write && !p->closing_handles && status == 0)
            finish_close(p, true);
        else
            peer_maybe_free(p);
        return;
    }
    if (status < 0) {
        peer_close(p, uv_strerror(status));
        return;
    }
    flush(p);
}

/* Encrypts queued frames as the engine has room, and writes ciphertext to the socket. */
static void flush(struct peer *p)
{
    if (p->state == PS_CLOSING || !p->tls) return;
    /* Frames are encrypted whole before the other queue gets a turn: alerts and revocations
     * overtake bulk traffic at the next frame boundary, never inside a frame. */
    while (tls_conn_state(p->tls) == TLS_ESTABLISHED) {
        size_t room = tls_conn_out_room(p->tls);
        if (room == 0) break;
        if (p->cur_left == 0) {
            p->cur = p->prio.len ? &p->prio : p->out.len ? &p->out : NULL;
            if (!p->cur) break;
            const uint8_t *h = p->cur->data;
            p->cur_left = PEER_HEADER_LEN +
                          ((size_t)h[2] << 24 | (size_t)h[3] << 16 | (size_t)h[4] << 8 | h[5]);
        }
        size_t chunk = p->cur_left < room ? p->cur_left : room;
        if (chunk > 16384) chunk = 16384;
        if (tls_conn_write(p->tls, p->cur->data, chunk) != 0) {
            peer_close(p, tls_conn_reason(p->tls));
            return;
        }
        peer_buf_consume(p->cur, chunk);
        p->cur_left -= chunk;
    }
    if (p->writing) return;
    size_t pending = tls_conn_pending(p->tls);
    if (pending == 0) return;
    uv_write_t *req = malloc(sizeof *req);
    p->wbuf = malloc(pending);
    if (!req || !p->wbuf) {
        free(req);
        peer_close(p, "out of memory");
        return;
    }
    size_t got;
    tls_conn_take(p->tls, p->wbuf, pending, &got);
    req->data = p;
    uv_buf_t b = uv_buf_init((char *)p->wbuf, (unsigned)got);
    p->writing = true;
    int rc = uv_write(req, (uv_stream_t *)&p->tcp, &b, 1, write_done);
    if (rc) {
        free(req);
        free(p->wbuf);
        p->wbuf = NULL;
        p->writing = false;
        peer_close(p, uv_strerror(rc));
    }
}

struct vv_walk {
    struct peer_builder *pb;
    int rc;
};

static int vv_cb(void *ctx, const struct store_head *h)
{
    struct vv_walk *w = ctx;
    if (h->seq == 0) return 0;
    struct peer_entry e;
    memcpy(e.origin, h->origin, PROTO_KEY_LEN);
    e.seq = h->seq;
    memcpy(e.id, h->id, PROTO_ID_LEN);
    w->rc = peer_build_entry(w->pb, &e);
    return w->rc ? 1 : 0;
}

/* Our version vector, from the heads table (already in origin order). */
static void send_vv(struct peer *p)
{
    struct store_rd *rd;
    if (store_rd_open(p->n->store, &rd) != 0) return;
    struct peer_builder pb;
    if (peer_build_begin(&pb, &p->out, PEER_VV) == 0) {
        struct vv_walk w = {&pb, 0};
        store_heads_each(rd, vv_cb, &w);
        if (w.rc == 0)
            peer_build_end(&pb);
        else
            peer_build_abort(&pb); /* more origins than a frame holds: the next round */
    }
    store_rd_close(rd);
    flush(p);
}

static int origin_cmp(const void *a, const void *b)
{
    return memcmp(a, b, PROTO_KEY_LEN);
}

/* After records pulled from `from` were written: tells every other ready peer our new heads
 * for those origins (a partial version vector; receivers merge VV entries one by one). A peer
 * that lacks them pulls them from us, or from whichever neighbour told it first: each record
 * crosses each node once, instead of being pushed on by every node that pulled it. */
static void send_vv_delta(struct net *net, const struct peer *from,
                          uint8_t (*origins)[PROTO_KEY_LEN], size_t n)
{
    if (n == 0) return;
    qsort(origins, n, PROTO_KEY_LEN, origin_cmp);
    struct peer_entry *e = malloc(n * sizeof *e);
    struct store_rd *rd;
    if (!e || store_rd_open(net->n->store, &rd) != 0) {
        free(e);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct store_head h;
        if (i > 0 && memcmp(origins[i - 1], origins[i], PROTO_KEY_LEN) == 0) continue;
        if (store_head_get(rd, origins[i], &h) != 0 || h.seq == 0) continue;
        memcpy(e[k].origin, origins[i], PROTO_KEY_LEN);
        e[k].seq = h.seq;
        memcpy(e[k++].id, h.id, PROTO_ID_LEN);
    }
    store_rd_close(rd);
    for (struct peer *p = net->peers; p && k; p = p->next) {
        if (p == from || p->state != PS_READY) continue;
        if (peer_encode_vv(&p->out, e, k) == 0) flush(p);
    }
    free(e);
}

static void send_hello(struct peer *p)
{
    struct peer_hello h;
    memset(&h, 0, sizeof h);
    memcpy(h.node_key, p->n->pk, PROTO_KEY_LEN);
    h.software = (struct proto_str){"gifd/" GIF_VERSION, strlen("gifd/" GIF_VERSION)};
    h.listen_addr = (struct proto_str){"", 0};
    h.time_ms = gif_now_ms();
    if (peer_encode_hello(&p->out, &h) == 0) flush(p);
}

static void send_ping(struct peer *p)
{
    struct peer_ping ping = {.nonce = ++p->ping_nonce, .time_ms = gif_now_ms()};
    p->ping_ns = gif_mono_ns();
    if (peer_encode_ping(&p->out, PEER_PING, &ping) == 0) flush(p);
}

/* The origin's index in net->okeys, adding it when insert; -1 when absent or the table is
 * full (such origins are pushed eagerly everywhere). */
static int origin_index(struct net *net, const uint8_t origin[PROTO_KEY_LEN], bool insert)
{
    uint64_t h;
    memcpy(&h, origin, sizeof h);
    for (size_t i = 0; i < ORIGIN_SLOTS; i++) {
        uint16_t *slot = &net->oslots[(h + i) % ORIGIN_SLOTS];
        if (*slot == 0) {
            if (!insert || net->norigins == ORIGINS_MAX) return -1;
            memcpy(net->okeys[net->norigins], origin, PROTO_KEY_LEN);
            *slot = (uint16_t)++net->norigins;
            return *slot - 1;
        }
        if (memcmp(net->okeys[*slot - 1], origin, PROTO_KEY_LEN) == 0) return *slot - 1;
    }
    return -1;
}

static bool is_lazy(const struct peer *p, int oi)
{
    return oi >= 0 && (p->lazy[oi / 64] >> (oi % 64) & 1);
}

static void set_lazy(struct peer *p, int oi, bool lazy)
{
    if (oi < 0) return;
    if (lazy)
        p->lazy[oi / 64] |= 1ull << (oi % 64);
    else
        p->lazy[oi / 64] &= ~(1ull << (oi % 64));
}

/* Tells p that its pushes of these records were all duplicates: the link leaves their
 * origins' trees (both ends then only announce them). Entries of origins already lazy are
 * skipped. */
static void send_prune(struct peer *p, const struct peer_entry *e, size_t n)
{
    struct peer_entry out[CUT_FRAME_MAX];
    size_t k = 0;
    for (size_t i = 0; i < n && k < CUT_FRAME_MAX; i++) {
        int oi = origin_index(p->n->net, e[i].origin, true);
        if (is_lazy(p, oi)) continue;
        set_lazy(p, oi, true);
        out[k++] = e[i];
    }
    if (k && peer_encode_ihave(&p->out, PEER_PRUNE, out, k) == 0) {
        p->n->metrics.net_prunes++;
        flush(p);
    }
}

static struct cut *cut_slot(struct net *net, const uint8_t origin[PROTO_KEY_LEN], uint64_t seq)
{
    uint64_t h;
    memcpy(&h, origin, sizeof h);
    h ^= seq * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    return &net->cut[h % CUT_SLOTS];
}

/* The record forwarded at (origin, seq) and not yet applied, or NULL. */
static struct cut *cut_find(struct net *net, const uint8_t origin[PROTO_KEY_LEN], uint64_t seq)
{
    struct cut *c = cut_slot(net, origin, seq);
    if (!c->rec || c->seq != seq || memcmp(c->origin, origin, PROTO_KEY_LEN) != 0) return NULL;
    return c;
}

static void cut_clear(struct cut *c)
{
    free(c->rec);
    c->rec = NULL;
}

bool net_forwarded(struct node *n, const struct proto_record *r)
{
    if (!n->net) return false;
    struct cut *c = cut_find(n->net, r->origin, r->seq);
    if (!c || memcmp(c->id, r->id, PROTO_ID_LEN) != 0) return false;
    cut_clear(c);
    return true;
}

/* Sends the queued announcements to p in one IHAVE frame. A full queue drops them: the peer
 * hears of those records from its version vector exchange instead. */
static void ihave_flush(struct peer *p)
{
    if (p->nihave == 0) return;
    struct peer_builder pb;
    if (peer_build_begin(&pb, &p->out, PEER_IHAVE) == 0) {
        size_t i = 0;
        while (i < p->nihave && peer_build_entry(&pb, &p->ihave[i]) == 0)
            i++;
        if (peer_build_end(&pb) != 0) peer_build_abort(&pb);
        flush(p);
    }
    p->nihave = 0;
}

void net_push(struct node *n, const struct proto_record *r, const uint8_t *rec, size_t len,
              const void *skip, bool urgent)
{
    if (!n->net) return;
    struct proto_bytes b = {rec, len};
    struct peer_entry e;
    memcpy(e.origin, r->origin, PROTO_KEY_LEN);
    e.seq = r->seq;
    memcpy(e.id, r->id, PROTO_ID_LEN);
    int oi = origin_index(n->net, r->origin, true);
    for (struct peer *p = n->net->peers; p; p = p->next) {
        if (p->state != PS_READY || p == skip) continue;
        struct peer_buf *q = urgent ? &p->prio : &p->out;
        /* Plumtree: payloads go along eager links (a spanning tree once duplicates have
         * pruned the rest); lazy links only hear the id. Urgent records go to everyone. A
         * peer whose queue is full misses the push; anti-entropy fills the gap. */
        if (!is_lazy(p, oi) || urgent) {
            if (peer_encode_records(q, &b, 1) == 0) {
                p->sent++;
                n->metrics.net_pushed++;
                flush(p);
            } else {
                n->metrics.net_push_dropped++;
            }
        } else {
            /* Announcements wait up to GRAFT_TICK_MS to share a frame: one wake-up of the
             * peer per tick instead of one per record. */
            if (!p->ihave && !(p->ihave = malloc(IHAVE_BATCH * sizeof *p->ihave))) continue;
            p->ihave[p->nihave++] = e;
            if (p->nihave == IHAVE_BATCH) ihave_flush(p);
        }
    }
}

static void graft_sample(struct net *net, uint64_t lag)
{
    double s = (double)lag;
    if (!net->lag_known) {
        net->lag_ms = s;
        net->lag_dev_ms = s / 2;
        net->lag_known = true;
    } else {
        net->lag_dev_ms +=
            ((s > net->lag_ms ? s - net->lag_ms : net->lag_ms - s) - net->lag_dev_ms) / 4;
        net->lag_ms += (s - net->lag_ms) / 8;
    }
    double t = net->lag_ms + 4 * net->lag_dev_ms;
    net->graft_ms = t < GRAFT_MIN_MS ? GRAFT_MIN_MS : t > GRAFT_MAX_MS ? GRAFT_MAX_MS : (uint32_t)t;
    net->n->metrics.net_graft_timeout_ms = net->graft_ms;
}

/* Records announced by a lazy peer that did not arrive by push in time: ask it for them
 * (GRAFT), which also makes the link eager again. */
static void graft_tick(uv_timer_t *t)
{
    struct net *net = t->data;
    uint64_t now = gif_now_ms();
    struct store_rd *rd = NULL;
    for (struct peer *p = net->peers; p; p = p->next) {
        if (p->state != PS_READY) continue;
        ihave_flush(p);
        if (p->nmiss == 0) continue;
        if (!rd && store_rd_open(net->n->store, &rd) != 0) return;
        struct peer_builder pb;
        bool open = false;
        size_t keep = 0;
        for (size_t i = 0; i < p->nmiss; i++) {
            struct missing *m = &p->miss[i];
            struct store_head h;
            if ((store_head_get(rd, m->e.origin, &h) == 0 && h.seq >= m->e.seq) ||
                cut_find(net, m->e.origin, m->e.seq)) {
                /* It came by push after all: a sample of the announcement-to-push lag (to a
                 * tick: it arrived since the last one). */
                graft_sample(net, now - m->since_ms);
                continue;
            }
            if (m->deadline_ms > now) {
                p->miss[keep++] = *m;
                continue;
            }
            if (!open) open = peer_build_begin(&pb, &p->out, PEER_GRAFT) == 0;
            if (open && peer_build_entry(&pb, &m->e) == 0)
                set_lazy(p, origin_index(net, m->e.origin, true), false);
        }
        p->nmiss = keep;
        if (open) {
            if (peer_build_count(&pb) && peer_build_end(&pb) == 0) {
                net->n->metrics.net_grafts++;
                flush(p);
            } else {
                peer_build_abort(&pb);
            }
        }
    }
    if (rd) store_rd_close(rd);
}

static void take_ihave(struct peer *p, struct peer_list *l)
{
    struct store_rd *rd;
    if (store_rd_open(p->n->store, &rd) != 0) return;
    struct peer_entry e;
    uint64_t now = gif_now_ms();
    while (peer_next_entry(l, &e)) {
        struct store_head h;
        if (store_head_get(rd, e.origin, &h) == 0 && (h.seq >= e.seq || h.frozen)) continue;
        if (cut_find(p->n->net, e.origin, e.seq)) continue; /* here, being written */
        if (p->nmiss == MISS_MAX) break;                    /* anti-entropy catches up the rest */
        p->miss[p->nmiss].e = e;
        p->miss[p->nmiss].since_ms = now;
        p->miss[p->nmiss++].deadline_ms = now + p->n->net->graft_ms;
    }
    store_rd_close(rd);
}

/* The peer asks for announced records and makes our link to it eager. */
static void serve_graft(struct peer *p, struct peer_list *l)
{
    struct store_rd *rd;
    if (store_rd_open(p->n->store, &rd) != 0) return;
    struct peer_builder pb;
    if (peer_build_begin(&pb, &p->out, PEER_RECORDS) == 0) {
        struct peer_entry e;
        while (peer_next_entry(l, &e)) {
            set_lazy(p, origin_index(p->n->net, e.origin, false), false);
            struct store_rec sr;
            const struct cut *c;
            if (store_get(rd, e.id, &sr) != 0) {
                /* Forwarded and not yet written here: answer from the cut-through table. */
                if (!(c = cut_find(p->n->net, e.origin, e.seq)) ||
                    memcmp(c->id, e.id, PROTO_ID_LEN) != 0)
                    continue;
                sr.buf = c->rec;
                sr.len = c->len;
            }
            if (peer_build_record(&pb, sr.buf, sr.len) != 0) break;
        }
        p->sent += peer_build_count(&pb);
        if (peer_build_end(&pb) != 0) peer_build_abort(&pb);
    }
    store_rd_close(rd);
    flush(p);
}

/* ---- Anti-entropy. */

/* Claims origin for p; false if another live link holds a claim on it. */
static bool pull_claim(struct net *net, const struct peer *p, const uint8_t origin[PROTO_KEY_LEN],
                       uint64_t now)
{
    struct pull *free_slot = NULL;
    for (size_t i = 0; i < net->npulls; i++) {
        struct pull *c = &net->pulls[i];
        if (c->until_ms <= now) {
            if (!free_slot) free_slot = c;
            continue;
        }
        if (memcmp(c->origin, origin, PROTO_KEY_LEN) == 0) {
            if (c->peer != p) return false;
            c->until_ms = now + PULL_CLAIM_MS;
            return true;
        }
    }
    if (!free_slot && net->npulls < PULLS_MAX) free_slot = &net->pulls[net->npulls++];
    if (!free_slot) return true; /* table full: pull anyway, duplicates are only wasted bytes */
    memcpy(free_slot->origin, origin, PROTO_KEY_LEN);
    free_slot->peer = p;
    free_slot->until_ms = now + PULL_CLAIM_MS;
    return true;
}

/* Drops p's claims: its link closed or its answer has been written. */
static void pull_release(struct net *net, const struct peer *p)
{
    for (size_t i = 0; i < net->npulls; i++)
        if (net->pulls[i].peer == p) net->pulls[i].until_ms = 0;
}

/* Asks the peer for what its last VV shows we miss: one WANT, if anything. */
static void pull_more(struct peer *p)
{
    if (p->state != PS_READY || p->want_out || p->ingesting || p->nvv == 0) return;
    uint64_t now = gif_now_ms();
    struct store_rd *rd;
    if (store_rd_open(p->n->store, &rd) != 0) return;
    struct peer_builder pb;
    if (peer_build_begin(&pb, &p->out, PEER_WANT) != 0) {
        store_rd_close(rd);
        return;
    }
    for (size_t i = 0; i < p->nvv; i++) {
        struct store_head h;
        uint64_t have = 0;
        if (store_head_get(rd, p->vv[i].origin, &h) == 0) {
            if (h.frozen) continue;
            have = h.seq;
        }
        if (p->vv[i].seq <= have) {
            /* Same position, other record: the origin signed two. Fetch the peer's one so
             * the store keeps the proof and freezes the origin. */
            uint8_t id[PROTO_ID_LEN];
            if (store_log_get(rd, p->vv[i].origin, p->vv[i].seq, id, NULL) == 0 &&
                memcmp(id, p->vv[i].id, PROTO_ID_LEN) != 0) {
                struct peer_range one;
                memcpy(one.origin, p->vv[i].origin, PROTO_KEY_LEN);
                one.from_seq = one.to_seq = p->vv[i].seq;
                if (peer_build_range(&pb, &one) != 0) break;
            }
            continue;
        }
        int oi = origin_index(p->n->net, p->vv[i].origin, false);
        if (oi >= 0 && p->vv[i].seq - have <= PULL_LIVE_GAP &&
            now - p->n->net->opush_ms[oi] < PULL_GRACE_MS)
            continue;
        if (!pull_claim(p->n->net, p, p->vv[i].origin, now)) continue;
        struct peer_range r;
        memcpy(r.origin, p->vv[i].origin, PROTO_KEY_LEN);
        r.from_seq = have + 1;
        r.to_seq = p->vv[i].seq - have > PULL_CHUNK ? have + PULL_CHUNK : p->vv[i].seq;
        if (peer_build_range(&pb, &r) != 0) break;
    }
    store_rd_close(rd);
    if (peer_build_count(&pb) == 0) {
        peer_build_abort(&pb);
        return;
    }
    if (peer_build_end(&pb) == 0) {
        p->want_out = true;
        p->n->metrics.net_pulls++;
        flush(p);
    }
}

/* Answers a WANT with one RECORDS frame, in seq order per range, as much as fits. */
static void serve_want(struct peer *p, struct peer_list *l)
{
    struct store_rd *rd;
    if (store_rd_open(p->n->store, &rd) != 0) return;
    struct peer_builder pb;
    if (peer_build_begin(&pb, &p->out, PEER_RECORDS) != 0) {
        store_rd_close(rd);
        return; /* our queue to this peer is full: it will ask again */
    }
    struct peer_range r;
    bool full = false;
    while (!full && peer_next_range(l, &r)) {
        for (uint64_t s = r.from_seq; s <= r.to_seq; s++) {
            uint8_t id[PROTO_ID_LEN];
            struct store_rec sr;
            if (store_log_get(rd, r.origin, s, id, &sr) != 0) break;
            if (peer_build_record(&pb, sr.buf, sr.len) != 0) {
                full = true;
                break;
            }
        }
    }
    p->sent += peer_build_count(&pb);
    if (peer_build_end(&pb) != 0) peer_build_abort(&pb);
    store_rd_close(rd);
    flush(p);
}

struct ingest {
    struct write_req w;
    struct peer *p;
    bool pull; /* the answer to our WANT (reading paused until written), not a push */
    struct store_in *in;
    struct store_result *res;
    uint8_t *bytes;
};

static void ingest_done(struct node *n, struct write_req *w, int rc)
{
    struct ingest *ig = w->ctx;
    struct peer *p = ig->p;
    bool was_pull = ig->pull;
    size_t fresh = 0;
    if (rc == 0) {
        for (size_t i = 0; i < w->n; i++) {
            int st = ig->res[i].status;
            if (st == 0 || st == GIF_E_PENDING)
                fresh++;
            else if (st == GIF_E_DUPLICATE)
                n->metrics.net_duplicates++, p->duplicates++;
            else
                metrics_reject(&n->metrics, st);
            if (st == GIF_E_EQUIVOCATION) {
                /* The proof travels: every peer that receives the second record while holding
                 * the first freezes the origin too. */
                char hex[17];
                gif_hex(hex, ig->res[i].id, 8);
                GIF_WARN("net",
                         "equivocation: record %s... from %s conflicts with the one "
                         "stored; origin frozen, proof sent to peers",
                         hex, p->addr);
                struct proto_record pr;
                if (proto_decode_known(&pr, ig->in[i].buf, ig->in[i].len, ig->res[i].id) == 0)
                    net_push(n, &pr, ig->in[i].buf, ig->in[i].len, p, false);
            }
        }
    } else {
        GIF_WARN("net", "writing %zu records from %s failed: %s", w->n, p->addr, gif_strerror(rc));
    }
    p->accepted += fresh;
    size_t count = w->n; /* w lives in ig: read before freeing */
    /* A push that brought nothing new: this link is redundant for those origins' payloads
     * (most such pushes are caught on receipt, in take_records). */
    struct peer_entry prune[CUT_FRAME_MAX];
    size_t nprune = 0;
    uint8_t(*origins)[PROTO_KEY_LEN] = NULL;
    size_t norigins = 0;
    if (was_pull && rc == 0 && fresh && (origins = malloc(count * PROTO_KEY_LEN))) {
        struct proto_record pr;
        for (size_t i = 0; i < count; i++)
            if ((ig->res[i].status == 0 || ig->res[i].status == GIF_E_PENDING) &&
                proto_decode_known(&pr, ig->in[i].buf, ig->in[i].len, ig->res[i].id) == 0 &&
                (norigins == 0 || memcmp(origins[norigins - 1], pr.origin, PROTO_KEY_LEN) != 0))
                memcpy(origins[norigins++], pr.origin, PROTO_KEY_LEN);
    }
    /* rc == 0: every result carries its record's id (store_ingest hashed it), so the records
     * are decoded here without hashing them again. */
    if (!was_pull && rc == 0 && fresh == 0 && count <= CUT_FRAME_MAX) {
        struct proto_record pr;
        for (size_t i = 0; i < count; i++)
            if (proto_decode_known(&pr, ig->in[i].buf, ig->in[i].len, ig->res[i].id) == 0) {
                memcpy(prune[nprune].origin, pr.origin, PROTO_KEY_LEN);
                prune[nprune].seq = pr.seq;
                memcpy(prune[nprune++].id, pr.id, PROTO_ID_LEN);
            }
    }
    free(ig->in);
    free(ig->res);
    free(ig->bytes);
    free(ig);
    p->ingesting--;
    send_vv_delta(n->net, p, origins, norigins);
    free(origins);
    if (p->state == PS_CLOSING) {
        peer_maybe_free(p);
        return;
    }
    /* Ask for more only when this batch moved us forward; otherwise wait for the next VV, so
     * that a peer that cannot serve what it advertises does not make us spin. */
    if (was_pull) p->want_out = false;
    send_prune(p, prune, nprune);
    if (was_pull) pull_release(n->net, p);
    if (fresh && was_pull) pull_more(p);
    if (p->paused && (was_pull || p->ingesting < PUSH_INFLIGHT_MAX)) {
        p->paused = false;
        uv_read_start((uv_stream_t *)&p->tcp, alloc_cb, read_cb);
        pump(p);
    }
}

static void take_records(struct peer *p, struct peer_list *l)
{
    size_t count = l->count;
    p->received += count;
    p->n->metrics.net_received += count;
    if (count == 0) {
        p->want_out = false;
        return;
    }
    struct ingest *ig = calloc(1, sizeof *ig);
    size_t total = (size_t)(l->end - l->p);
    if (ig) {
        ig->in = calloc(count, sizeof *ig->in);
        ig->res = calloc(count, sizeof *ig->res);
        ig->bytes = malloc(total ? total : 1);
    }
    if (!ig || !ig->in || !ig->res || !ig->bytes) {
        if (ig) free(ig->in), free(ig->res), free(ig->bytes);
        free(ig);
        peer_close(p, "out of memory");
        return;
    }
    /* The frame lives in p->in, which the next read reuses: the write gets its own copy. A
     * push (not the answer to our WANT) is checked here first: duplicates are dropped, and a
     * record that would be accepted is forwarded before it is written (cut-through). */
    struct node *n = p->n;
    bool push = !p->want_out && count <= CUT_FRAME_MAX;
    size_t off = 0, i = 0, seen = 0, ndup = 0;
    struct peer_entry dup[CUT_FRAME_MAX];
    struct proto_bytes rec;
    while (peer_next_record(l, &rec) && seen++ < count) {
        bool verified = false;
        struct proto_record r;
        if (push && proto_decode(&r, rec.p, rec.n) == 0) {
            int oi = origin_index(n->net, r.origin, true);
            if (oi >= 0) n->net->opush_ms[oi] = gif_now_ms();
            struct cut *c = cut_find(n->net, r.origin, r.seq);
            int st;
            if (c)
                st = memcmp(c->id, r.id, PROTO_ID_LEN) == 0 ? GIF_E_DUPLICATE : GIF_E_EQUIVOCATION;
            else {
                /* Its predecessor may itself be here by cut-through, not yet written. */
                const struct cut *pc = r.seq > 1 ? cut_find(n->net, r.origin, r.seq - 1) : NULL;
                st = store_precheck(n->store, &r, rec.p, rec.n, gif_now_ms(), pc ? pc->id : NULL);
            }
            if (st == GIF_E_DUPLICATE) {
                n->metrics.net_duplicates++;
                p->duplicates++;
                memcpy(dup[ndup].origin, r.origin, PROTO_KEY_LEN);
                dup[ndup].seq = r.seq;
                memcpy(dup[ndup++].id, r.id, PROTO_ID_LEN);
                continue;
            }
            if (st == 0) {
                c = cut_slot(n->net, r.origin, r.seq);
                uint8_t *copy = malloc(rec.n);
                if (copy) {
                    cut_clear(c);
                    memcpy(copy, rec.p, rec.n);
                    memcpy(c->origin, r.origin, PROTO_KEY_LEN);
                    memcpy(c->id, r.id, PROTO_ID_LEN);
                    c->seq = r.seq;
                    c->rec = copy;
                    c->len = rec.n;
                    n->metrics.net_cut_through++;
                    net_push(n, &r, rec.p, rec.n, p,
                             r.kind == PROTO_ALERT || r.kind == PROTO_INCIDENT || r.kind == PROTO_REVOCATION);
                }
                verified = true;
            }
        }
        memcpy(ig->bytes + off, rec.p, rec.n);
        ig->in[i] = (struct store_in){.buf = ig->bytes + off, .len = rec.n, .verified = verified};
        if (verified) memcpy(ig->in[i].id, r.id, PROTO_ID_LEN);
        i++;
        off += rec.n;
    }
    /* Plumtree: a pushed record that had already come another way makes this link redundant
     * in its origin's tree; both ends then only announce that origin's records on it. */
    send_prune(p, dup, ndup);
    if (i == 0) {
        free(ig->in), free(ig->res), free(ig->bytes), free(ig);
        return;
    }
    ig->p = p;
    ig->w.kind = WRITE_INGEST;
    ig->w.n = i;
    ig->w.in = ig->in;
    ig->w.res = ig->res;
    ig->w.done = ingest_done;
    ig->w.ctx = ig;
    ig->w.source = p;
    ig->w.pulled = !push;
    ig->pull = !push;
    if (node_write(p->n, &ig->w) != 0) {
        free(ig->in), free(ig->res), free(ig->bytes), free(ig);
        return; /* node stopping or overloaded: the records come again with anti-entropy */
    }
    p->ingesting++;
    if (!push || p->ingesting >= PUSH_INFLIGHT_MAX) {
        p->paused = true;
        uv_read_stop((uv_stream_t *)&p->tcp);
    }
}

/* ---- Receiving. */

static bool member_ok(struct peer *p, char *why, size_t whylen)
{
    struct store_rd *rd;
    if (store_rd_open(p->n->store, &rd) != 0) {
        snprintf(why, whylen, "store unavailable");
        return false;
    }
    struct store_member m;
    int rc = store_member_get(rd, p->key, &m);
    store_rd_close(rd);
    char hex[17];
    gif_hex(hex, p->key, 8);
    if (rc != 0)
        snprintf(why, whylen, "key %s... is not a member of the consortium", hex);
    else if (m.revoked)
        snprintf(why, whylen, "key %s... (%s) is revoked", hex, m.org);
    else if (!store_member_active(&m, gif_now_ms()))
        snprintf(why, whylen, "key %s... (%s): membership not current", hex, m.org);
    else
        return true;
    return false;
}

static void timer_cb(uv_timer_t *t);

/* Merges a VV frame (sorted by origin) into what we know of the peer's vector: each entry
 * replaces the one for its origin (a VV may be partial: docs/protocol.md). Takes add. */
static void vv_merge(struct peer *p, struct peer_entry *add, size_t nadd)
{
    if (p->nvv == 0 || nadd == 0) {
        if (nadd == 0) {
            free(add);
            return;
        }
        free(p->vv);
        p->vv = add;
        p->nvv = nadd;
        return;
    }
    struct peer_entry *m = malloc((p->nvv + nadd) * sizeof *m);
    if (!m) {
        free(add);
        return;
    }
    size_t i = 0, j = 0, k = 0;
    while (i < p->nvv || j < nadd) {
        int c = i == p->nvv ? 1
                : j == nadd ? -1
                            : memcmp(p->vv[i].origin, add[j].origin, PROTO_KEY_LEN);
        if (c < 0)
            m[k++] = p->vv[i++];
        else if (c > 0)
            m[k++] = add[j++];
        else
            m[k++] = add[j++], i++;
    }
    free(p->vv);
    free(add);
    p->vv = m;
    p->nvv = k;
}

static void handle_frame(struct peer *p, const struct peer_frame *f)
{
    struct peer_msg m;
    int rc = peer_msg_decode(f, &m);
    if (rc) {
        char why[96];
        snprintf(why, sizeof why, "protocol error: bad %s frame (%s)", peer_type_name(f->type),
                 gif_strerror(rc));
        peer_bye(p, PEER_BYE_PROTOCOL, why);
        return;
    }
    if (!p->hello_got && m.type != PEER_HELLO && m.type != PEER_BYE) {
        peer_bye(p, PEER_BYE_PROTOCOL, "protocol error: first message was not HELLO");
        return;
    }
    switch (m.type) {
    case PEER_HELLO:
        if (p->hello_got) {
            peer_bye(p, PEER_BYE_PROTOCOL, "protocol error: second HELLO");
            return;
        }
        if (memcmp(m.u.hello.node_key, p->key, PROTO_KEY_LEN) != 0) {
            peer_bye(p, PEER_BYE_NOT_MEMBER, "HELLO key differs from the certificate's key");
            return;
        }
        p->hello_got = true;
        /* Two members that dial each other end up with two links. Both sides keep the one
         * dialled by the smaller key, so they agree without talking about it. */
        for (struct peer *q = p->n->net->peers; q; q = q->next) {
            if (q == p || q->state != PS_READY || memcmp(q->key, p->key, PROTO_KEY_LEN) != 0)
                continue;
            bool me_smaller = memcmp(p->n->pk, p->key, PROTO_KEY_LEN) < 0;
            /* The link to keep is outbound here if we are the smaller key, inbound if not. */
            struct peer *drop = (p->seed >= 0) == me_smaller ? q : p;
            if (drop->seed >= 0)
                memcpy(p->n->net->seeds[drop->seed].key, p->key, PROTO_KEY_LEN),
                    p->n->net->seeds[drop->seed].key_known = true;
            peer_bye(drop, PEER_BYE_GOING_AWAY, "duplicate link");
            if (drop == p) return;
            break;
        }
        p->state = PS_READY;
        if (p->seed >= 0) p->n->net->seeds[p->seed].backoff_ms = BACKOFF_MIN_MS;
        GIF_INFO("net", "link %s %s (%s) ready", p->addr, p->org,
                 p->seed >= 0 ? "outbound" : "inbound");
        send_ping(p);
        break;
    case PEER_VV: {
        size_t n = m.u.list.count;
        struct peer_entry *vv = n ? malloc(n * sizeof *vv) : NULL;
        if (n && !vv) return;
        size_t i = 0;
        while (i < n && peer_next_entry(&m.u.list, &vv[i])) {
            if (memcmp(vv[i].origin, p->n->pk, PROTO_KEY_LEN) == 0 &&
                vv[i].seq > p->n->self_seen_seq)
                p->n->self_seen_seq = vv[i].seq;
            i++;
        }
        vv_merge(p, vv, i);
        p->n->vv_seen = true;
        pull_more(p);
        break;
    }
    case PEER_WANT:
        serve_want(p, &m.u.list);
        break;
    case PEER_RECORDS:
        take_records(p, &m.u.list);
        break;
    case PEER_PING: {
        struct peer_ping pong = m.u.ping;
        if (peer_encode_ping(&p->out, PEER_PONG, &pong) == 0) flush(p);
        break;
    }
    case PEER_PONG:
        if (m.u.ping.nonce == p->ping_nonce) p->rtt_ms = (double)(gif_mono_ns() - p->ping_ns) / 1e6;
        break;
    case PEER_BYE: {
        char why[160];
        snprintf(why, sizeof why, "peer said goodbye (%s): %.*s",
                 peer_bye_name(m.u.bye.code) ? peer_bye_name(m.u.bye.code) : "unknown code",
                 (int)(m.u.bye.reason.n > 100 ? 100 : m.u.bye.reason.n), m.u.bye.reason.p);
        peer_close(p, why);
        break;
    }
    case PEER_IHAVE:
        take_ihave(p, &m.u.list);
        break;
    case PEER_GRAFT:
        serve_graft(p, &m.u.list);
        break;
    case PEER_PRUNE: {
        struct peer_entry e;
        if (m.u.list.count == 0) memset(p->lazy, 0xff, sizeof p->lazy); /* every origin */
        while (peer_next_entry(&m.u.list, &e))
            set_lazy(p, origin_index(p->n->net, e.origin, false), true);
        break;
    }
    default:
        break;
    }
}

/* Moves bytes through TLS and frames until nothing more can be done now. */
static void pump(struct peer *p)
{
    if (p->state == PS_TLS) {
        int rc = tls_conn_handshake(p->tls);
        flush(p);
        if (rc == -EAGAIN) return;
        if (rc < 0) {
            char why[300];
            snprintf(why, sizeof why, "TLS refused: %s", tls_conn_reason(p->tls));
            peer_close(p, why);
            return;
        }
        tls_conn_peer(p->tls, p->key, p->org, sizeof p->org);
        char why[200];
        struct penalty *pen = penalty_of(p->n->net, p->key);
        if (pen && pen->until_ms > gif_now_ms()) {
            snprintf(why, sizeof why, "penalised for a protocol violation for %llu s more",
                     (unsigned long long)((pen->until_ms - gif_now_ms()) / 1000));
            GIF_WARN("net", "refusing %s (%s): %s", p->addr, p->org, why);
            peer_bye(p, PEER_BYE_OVERLOADED, why);
            return;
        }
        if (!member_ok(p, why, sizeof why)) {
            GIF_WARN("net", "refusing %s: %s", p->addr, why);
            peer_bye(p, PEER_BYE_NOT_MEMBER, why);
            return;
        }
        p->state = PS_HELLO;
        p->in = malloc(PEER_IN_MAX);
        if (!p->in) {
            peer_close(p, "out of memory");
            return;
        }
        send_hello(p);
        send_vv(p);
        uv_timer_stop(&p->timer);
        uv_timer_start(&p->timer, timer_cb, VV_INTERVAL_MS, VV_INTERVAL_MS);
    }
    while (p->state == PS_HELLO || p->state == PS_READY) {
        size_t got = 0;
        if (p->in_len < PEER_IN_MAX) {
            int rc = tls_conn_read(p->tls, p->in + p->in_len, PEER_IN_MAX - p->in_len, &got);
            flush(p);
            if (rc < 0) {
                char why[300];
                snprintf(why, sizeof why, "TLS: %s", tls_conn_reason(p->tls));
                peer_close(p, why);
                return;
            }
            p->in_len += got;
        }
        size_t off = 0;
        while (p->state == PS_HELLO || p->state == PS_READY) {
            if (p->paused) break;
            struct peer_frame f;
            size_t used;
            int rc = peer_frame_parse(p->in + off, p->in_len - off, &f, &used);
            if (rc == -EAGAIN) break;
            if (rc) {
                char why[96];
                snprintf(why, sizeof why, "protocol error: bad frame header (%s)",
                         gif_strerror(rc));
                peer_bye(p, PEER_BYE_PROTOCOL, why);
                return;
            }
            handle_frame(p, &f);
            off += used;
        }
        if (p->state == PS_CLOSING) return;
        if (off) {
            memmove(p->in, p->in + off, p->in_len - off);
            p->in_len -= off;
        }
        if (p->paused) return;
        if (got == 0) {
            if (tls_conn_state(p->tls) == TLS_CLOSED) peer_close(p, "peer closed the link");
            return;
        }
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct peer *p = h->data;
    size_t room = p->tls ? tls_conn_in_room(p->tls) : 0;
    if (room > READ_CHUNK) room = READ_CHUNK;
    if (!p->rbuf) p->rbuf = malloc(READ_CHUNK);
    *buf = uv_buf_init((char *)p->rbuf, p->rbuf ? (unsigned)room : 0);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct peer *p = s->data;
    if (nread == UV_ENOBUFS) {
        /* The engine holds a full window of undecrypted bytes: let it drain first. */
        pump(p);
        return;
    }
    if (nread < 0) {
        peer_close(p, nread == UV_EOF ? "connection closed by peer" : uv_strerror((int)nread));
        return;
    }
    if (nread == 0) return;
    if (tls_conn_feed(p->tls, (const uint8_t *)buf->base, (size_t)nread) != 0) {
        peer_close(p, "peer overran the receive window");
        return;
    }
    pump(p);
}

static void timer_cb(uv_timer_t *t)
{
    struct peer *p = t->data;
    if (p->state == PS_TLS || p->state == PS_CONNECTING) {
        peer_close(p, "handshake timed out");
        return;
    }
    if (p->state != PS_READY) {
        peer_close(p, "no HELLO from peer");
        return;
    }
    send_vv(p);
    send_ping(p);
}

static int link_start(struct peer *p, enum tls_role role)
{
    int rc = tls_conn_new(&p->tls, p->n->net->tls, role, NULL);
    if (rc) return rc;
    /* Frames are small and latency is the point: without this, Nagle holds a frame back
     * while an earlier one waits for the peer's (possibly delayed) acknowledgement. */
    uv_tcp_nodelay(&p->tcp, 1);
    p->state = PS_TLS;
    uv_timer_start(&p->timer, timer_cb, HANDSHAKE_TIMEOUT_MS, 0);
    rc = uv_read_start((uv_stream_t *)&p->tcp, alloc_cb, read_cb);
    if (rc) return rc;
    pump(p); /* a client's ClientHello goes out now */
    return 0;
}

/* ---- Dialling and accepting. */

static void connect_cb(uv_connect_t *req, int status)
{
    struct peer *p = req->data;
    if (p->state == PS_CLOSING) return;
    if (status < 0) {
        peer_close(p, uv_strerror(status));
        return;
    }
    int rc = link_start(p, TLS_CLIENT);
    if (rc) peer_close(p, gif_strerror(rc));
}

static void dial_addr(struct net *net, int i, const struct sockaddr *sa)
{
    struct seedslot *s = &net->seeds[i];
    struct peer *p = peer_new(net, i);
    if (!p) return;
    s->p = p;
    snprintf(p->addr, sizeof p->addr, "%s:%d", s->host, s->port);
    p->state = PS_CONNECTING;
    p->creq.data = p;
    uv_timer_start(&p->timer, timer_cb, HANDSHAKE_TIMEOUT_MS, 0);
    int rc = uv_tcp_connect(&p->creq, &p->tcp, sa, connect_cb);
    if (rc) peer_close(p, uv_strerror(rc));
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct seedslot *s = req->data;
    struct net *net = s->net;
    s->resolving = false;
    if (net->stopping) {
        uv_freeaddrinfo(res);
        return;
    }
    if (status < 0 || !res) {
        snprintf(s->last_err, sizeof s->last_err, "cannot resolve %s: %s", s->host,
                 uv_strerror(status));
        GIF_WARN("net", "seed %s", s->last_err);
        uv_freeaddrinfo(res);
        schedule_redial(s);
        return;
    }
    dial_addr(net, s->index, res->ai_addr);
    uv_freeaddrinfo(res);
}

static void dial(struct net *net, int i)
{
    struct seedslot *s = &net->seeds[i];
    if (s->p || s->resolving || net->stopping) return;
    struct sockaddr_storage ss;
    if (uv_ip4_addr(s->host, s->port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(s->host, s->port, (struct sockaddr_in6 *)&ss) == 0) {
        dial_addr(net, i, (struct sockaddr *)&ss);
        return;
    }
    char port[8];
    snprintf(port, sizeof port, "%d", s->port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    s->gai.data = s;
    s->resolving = true;
    if (uv_getaddrinfo(net->n->loop, &s->gai, resolved, s->host, port, &hints) != 0)
        s->resolving = false;
}

static size_t ready_links(const struct net *net)
{
    size_t c = 0;
    for (const struct peer *p = net->peers; p; p = p->next)
        c += p->state == PS_READY;
    return c;
}

static void seed_retry(uv_timer_t *t)
{
    struct seedslot *s = t->data;
    if (s->advertised && ready_links(s->net) >= PEERS_TARGET) {
        uv_timer_start(&s->timer, seed_retry, BACKOFF_MAX_MS, 0);
        return;
    }
    /* That member already keeps a link with us: check again later rather than dial a
     * duplicate that would be dropped. */
    if (s->key_known)
        for (struct peer *p = s->net->peers; p; p = p->next)
            if (p->state == PS_READY && memcmp(p->key, s->key, PROTO_KEY_LEN) == 0) {
                uv_timer_start(&s->timer, seed_retry, BACKOFF_MAX_MS, 0);
                return;
            }
    dial(s->net, s->index);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct net *net = server->data;
    if (status < 0 || net->stopping) return;
    struct peer *p = peer_new(net, -1);
    if (!p) return;
    if (uv_accept(server, (uv_stream_t *)&p->tcp) != 0) {
        peer_close(p, "accept failed");
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char host[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&p->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof host);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else {
            uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof host);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    snprintf(p->addr, sizeof p->addr, "%s:%d", host, port);
    if (net->npeers > PEERS_MAX) {
        peer_close(p, "too many peers");
        return;
    }
    int rc = link_start(p, TLS_SERVER);
    if (rc) peer_close(p, gif_strerror(rc));
}

/* ---- Start, stop, observe. */

int net_start(struct node *n, char *err, size_t errlen)
{
    struct node_config *c = &n->cfg;
    FILE *f = fopen(c->peer_cert, "r");
    if (!f) {
        GIF_WARN("net",
                 "no certificate at %s: the peer network is off (gifctl node init "
                 "issues one)",
                 c->peer_cert);
        return 0;
    }
    fclose(f);
    struct net *net = calloc(1, sizeof *net);
    if (!net) return -ENOMEM;
    net->n = n;
    char path[CONFIG_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/node.key", c->data_dir);
    int rc = tls_ctx_load(&net->tls, path, c->peer_cert, c->peer_ca, c->root_key, err, errlen);
    if (rc) {
        free(net);
        return rc;
    }
    n->net = net;
    struct sockaddr_storage ss;
    if (uv_ip4_addr(c->peer_host, c->peer_port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(c->peer_host, c->peer_port, (struct sockaddr_in6 *)&ss) != 0) {
        snprintf(err, errlen, "[peers] listen: '%s' is not an address", c->peer_host);
        return GIF_E_INVALID;
    }
    uv_tcp_init(n->loop, &net->listener);
    net->listener.data = net;
    net->listening = true;
    rc = uv_tcp_bind(&net->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&net->listener, 128, on_connection);
    if (rc) {
        snprintf(err, errlen, "[peers] listen %s:%d: %s", c->peer_host, c->peer_port,
                 uv_strerror(rc));
        return rc;
    }
    uv_timer_init(n->loop, &net->graft_timer);
    net->graft_timer.data = net;
    net->graft_timer_open = true;
    net->graft_ms = GRAFT_MIN_MS;
    n->metrics.net_graft_timeout_ms = GRAFT_MIN_MS;
    uv_timer_start(&net->graft_timer, graft_tick, GRAFT_TICK_MS, GRAFT_TICK_MS);
    GIF_INFO("net", "peers: listening on %s:%d, %zu seed%s", c->peer_host, c->peer_port, c->nseeds,
             c->nseeds == 1 ? "" : "s");
    for (size_t i = 0; i < c->nseeds; i++) {
        struct seedslot *s = &net->seeds[i];
        s->net = net;
        s->index = (int)i;
        snprintf(s->host, sizeof s->host, "%s", c->seeds[i].host);
        s->port = c->seeds[i].port;
        net->nslots++;
        uv_timer_init(n->loop, &s->timer);
        s->timer.data = s;
        s->timer_open = true;
        s->backoff_ms = BACKOFF_MIN_MS;
        dial(net, (int)i);
    }
    net_learn_addresses(n);
    return 0;
}

struct learn {
    struct net *net;
    struct store_rd *rd;
};

/* Adds a dial slot for each address a current member advertises that no slot has yet. */
static int learn_cb(void *ctx, const struct store_member *m)
{
    struct learn *l = ctx;
    struct net *net = l->net;
    if (memcmp(m->key, net->n->pk, PROTO_KEY_LEN) == 0 || !store_member_active(m, gif_now_ms()))
        return 0;
    struct store_rec sr;
    struct proto_record r;
    if (store_get_decoded(l->rd, m->record_id, &sr, &r) != 0 ||
        r.kind != PROTO_MEMBERSHIP)
        return 0;
    for (size_t a = 0; a < r.u.membership.naddrs && net->nslots < SLOTS_MAX; a++) {
        char text[PROTO_ADDR_MAX + 1], host[256];
        int port;
        snprintf(text, sizeof text, "%.*s", (int)r.u.membership.addrs[a].n,
                 r.u.membership.addrs[a].p);
        if (config_parse_hostport(text, host, sizeof host, &port) != 0 || port == 0) continue;
        bool known = false;
        for (size_t i = 0; i < net->nslots; i++)
            if (net->seeds[i].port == port && strcmp(net->seeds[i].host, host) == 0) known = true;
        if (known) continue;
        struct seedslot *s = &net->seeds[net->nslots];
        memset(s, 0, sizeof *s);
        s->net = net;
        s->index = (int)net->nslots++;
        snprintf(s->host, sizeof s->host, "%s", host);
        s->port = port;
        s->advertised = true;
        memcpy(s->key, m->key, PROTO_KEY_LEN);
        s->key_known = true; /* not dialled while that member already keeps a link with us */
        s->backoff_ms = BACKOFF_MIN_MS;
        uv_timer_init(net->n->loop, &s->timer);
        s->timer.data = s;
        s->timer_open = true;
        GIF_INFO("net", "learnt %s:%d for %s from its membership", host, port, m->org);
        /* Through the same checks as a retry (target, existing link), at once. */
        uv_timer_start(&s->timer, seed_retry, 0, 0);
    }
    return 0;
}

void net_learn_addresses(struct node *n)
{
    if (!n->net || n->net->stopping) return;
    struct learn l = {n->net, NULL};
    if (store_rd_open(n->store, &l.rd) != 0) return;
    store_members_each(l.rd, learn_cb, &l);
    store_rd_close(l.rd);
}

void net_stop(struct node *n)
{
    struct net *net = n->net;
    if (!net || net->stopping) return;
    net->stopping = true;
    if (net->listening) uv_close((uv_handle_t *)&net->listener, NULL);
    if (net->graft_timer_open) {
        uv_timer_stop(&net->graft_timer);
        uv_close((uv_handle_t *)&net->graft_timer, NULL);
        net->graft_timer_open = false;
    }
    for (size_t i = 0; i < net->nslots; i++)
        if (net->seeds[i].timer_open) {
            uv_timer_stop(&net->seeds[i].timer);
            uv_close((uv_handle_t *)&net->seeds[i].timer, NULL);
            net->seeds[i].timer_open = false;
        }
    while (net->peers)
        peer_bye(net->peers, PEER_BYE_GOING_AWAY, "node stopping");
}

void net_free(struct node *n)
{
    if (n->net)
        for (size_t i = 0; i < CUT_SLOTS; i++)
            free(n->net->cut[i].rec);
    if (!n->net) return;
    tls_ctx_free(n->net->tls);
    free(n->net);
    n->net = NULL;
}

void net_revoked(struct node *n, const uint8_t key[32])
{
    if (!n->net) return;
    struct peer *p = n->net->peers;
    while (p) {
        struct peer *next = p->next;
        if (p->state >= PS_HELLO && memcmp(p->key, key, PROTO_KEY_LEN) == 0)
            peer_bye(p, PEER_BYE_REVOKED, "membership revoked");
        p = next;
    }
}

size_t net_ready_count(struct node *n)
{
    size_t c = 0;
    if (n->net)
        for (struct peer *p = n->net->peers; p; p = p->next)
            c += p->state == PS_READY;
    return c;
}

size_t net_metrics_peers(struct node *n, struct metrics_peer *out, size_t max)
{
    size_t k = 0;
    if (!n->net) return 0;
    for (struct peer *p = n->net->peers; p && k < max; p = p->next) {
        if (p->state != PS_READY) continue;
        struct metrics_peer *m = &out[k++];
        gif_hex(m->key, p->key, 8);
        snprintf(m->org, sizeof m->org, "%s", p->org);
        m->sent = p->sent;
        m->received = p->received;
        m->accepted = p->accepted;
        m->duplicates = p->duplicates;
        m->rtt_ms = p->rtt_ms;
    }
    return k;
}

static size_t lazy_count(const struct peer *p)
{
    size_t c = 0;
    for (size_t i = 0; i < ORIGINS_MAX / 64; i++)
        c += (size_t)__builtin_popcountll(p->lazy[i]);
    return c;
}

json_t *net_peers_json(struct node *n)
{
    json_t *arr = json_array();
    if (!n->net) return arr;
    for (size_t i = 0; i < n->net->nslots; i++) {
        const struct seedslot *s = &n->net->seeds[i];
        if (s->p) continue;
        char addr[300];
        snprintf(addr, sizeof addr, "%s:%d", s->host, s->port);
        json_array_append_new(arr,
                              json_pack("{s:n,s:n,s:s,s:s,s:s,s:n,s:i,s:i,s:i,s:s}", "key", "org",
                                        "address", addr, "direction", "outbound", "state",
                                        "backoff", "rtt_ms", "records_sent", 0, "records_received",
                                        0, "records_accepted", 0, "last_error", s->last_err));
    }
    for (struct peer *p = n->net->peers; p; p = p->next) {
        bool known = p->state >= PS_HELLO;
        json_array_append_new(
            arr,
            json_pack("{s:o,s:o,s:s,s:s,s:s,s:I,s:o,s:I,s:I,s:I,s:s}", "key",
                      known ? api_hex(p->key, 32) : json_null(), "org",
                      known ? json_string(p->org) : json_null(), "address", p->addr, "direction",
                      p->seed >= 0 ? "outbound" : "inbound", "state", pstate_names[p->state],
                      "lazy_origins", (json_int_t)lazy_count(p), "rtt_ms",
                      p->rtt_ms > 0 ? json_real(p->rtt_ms) : json_null(), "records_sent",
                      (json_int_t)p->sent, "records_received", (json_int_t)p->received,
                      "records_accepted", (json_int_t)p->accepted, "last_error", p->last_err));
    }
    return arr;
}
