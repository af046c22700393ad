/*
 * The webhook (webhook.h; docs/api.md "Webhooks"). One attempt at a time: resolve the host
 * (unless it is an address), connect, write the request with "Connection: close", read until
 * the status line, close. For https the bytes pass through node/tls.c's engine (memory BIOs:
 * the handshake, the request and the answer move as the socket's callbacks feed it). The
 * node's timer bounds the attempt (timeout_ms) and, between attempts, waits out the backoff.
 * A queued delivery costs its JSON body; nothing here waits on the network in the loop thread.
 */
#include "node/webhook.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "node/api_json.h"
#include "node/metrics.h"
#include "node/node.h"
#include "node/policy.h"
#include "node/tls.h"
#include "util/gif.h"

_Static_assert(WEBHOOK_EVENTS == METRICS_WH_EVENTS, "metrics.h counts webhook events");
_Static_assert(WEBHOOK_DEAD_REASONS == METRICS_WH_REASONS, "metrics.h counts dead reasons");

#define RESP_MAX 1024   /* bytes read looking for the status line */
#define CIN_MAX 16384   /* https: ciphertext read at a time */
#define STOP_LOG_MAX 20 /* deliveries named one by one in the log at stop */
#define OVERFLOW_LOG_MS 10000

static const char *const event_names[WEBHOOK_EVENTS] = {"alert", "blocking_signal", "incident"};
static const char *const event_config_names[WEBHOOK_EVENTS] = {"alerts", "blocking_signals",
                                                               "incidents"};
static const char *const dead_names[WEBHOOK_DEAD_REASONS] = {"attempts", "overflow", "stopped"};

const char *webhook_event_name(unsigned ev)
{
    return ev < WEBHOOK_EVENTS ? event_names[ev] : NULL;
}

const char *webhook_dead_name(unsigned reason)
{
    return reason < WEBHOOK_DEAD_REASONS ? dead_names[reason] : NULL;
}

/* ---- Pure parts. */

int webhook_url_parse(const char *url, struct webhook_config *c, char *why, size_t whylen)
{
    size_t ulen = strlen(url);
    if (ulen >= sizeof c->url) {
        gif_seterr(why, whylen, "longer than %zu characters", sizeof c->url - 1);
        return -1;
    }
    bool tls = strncasecmp(url, "https://", 8) == 0;
    if (!tls && strncasecmp(url, "http://", 7) != 0) {
        gif_seterr(why, whylen, "not an http:// or https:// URL");
        return -1;
    }
    for (const char *s = url; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f) {
            gif_seterr(why, whylen, "holds a space, a control or a non-ASCII character");
            return -1;
        }
    if (strchr(url, '#')) {
        gif_seterr(why, whylen, "a fragment (#...) is not sent to a server: remove it");
        return -1;
    }
    const char *a = url + (tls ? 8 : 7);
    size_t alen = strcspn(a, "/?");
    const char *rest = a + alen;
    if (memchr(a, '@', alen)) {
        gif_seterr(why, whylen, "user information (user@) is not supported");
        return -1;
    }
    const char *h, *portp = NULL;
    size_t hl;
    if (alen && a[0] == '[') {
        const char *close = memchr(a, ']', alen);
        if (!close) {
            gif_seterr(why, whylen, "an IPv6 address without its closing ']'");
            return -1;
        }
        h = a + 1;
        hl = (size_t)(close - h);
        char tmp[INET6_ADDRSTRLEN + 1];
        struct in6_addr a6;
        if (hl == 0 || hl >= sizeof tmp) {
            gif_seterr(why, whylen, "not an IPv6 address in brackets");
            return -1;
        }
        memcpy(tmp, h, hl);
        tmp[hl] = '\0';
        if (inet_pton(AF_INET6, tmp, &a6) != 1) {
            gif_seterr(why, whylen, "'%s' is not an IPv6 address", tmp);
            return -1;
        }
        if (close + 1 < a + alen) {
            if (close[1] != ':') {
                gif_seterr(why, whylen, "unexpected characters after ']'");
                return -1;
            }
            portp = close + 2;
        }
    } else {
        const char *colon = memchr(a, ':', alen);
        h = a;
        hl = colon ? (size_t)(colon - a) : alen;
        if (colon) portp = colon + 1;
        for (size_t i = 0; i < hl; i++)
            if (!isalnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '-' && h[i] != '_') {
                gif_seterr(why, whylen, "the host '%.*s' is not a name or an address", (int)hl, h);
                return -1;
            }
    }
    if (hl == 0) {
        gif_seterr(why, whylen, "no host");
        return -1;
    }
    if (hl >= sizeof c->host) {
        gif_seterr(why, whylen, "the host is too long");
        return -1;
    }
    long port = tls ? 443 : 80;
    if (portp) {
        size_t pl = (size_t)(a + alen - portp);
        port = 0;
        for (size_t i = 0; i < pl; i++) {
            if (!isdigit((unsigned char)portp[i]) || pl > 5) {
                port = -1;
                break;
            }
            port = port * 10 + (portp[i] - '0');
        }
        if (pl == 0 || port < 1 || port > 65535) {
            gif_seterr(why, whylen, "the port '%.*s' is not 1 to 65535", (int)pl, portp);
            return -1;
        }
    }
    memcpy(c->host, h, hl);
    c->host[hl] = '\0';
    c->port = (int)port;
    c->tls = tls;
    if (*rest == '/')
        snprintf(c->path, sizeof c->path, "%s", rest);
    else
        snprintf(c->path, sizeof c->path, "/%s", rest); /* "" or "?query" */
    memcpy(c->url, url, ulen + 1);
    return 0;
}

int webhook_events_parse(const char *s, unsigned *events, char *why, size_t whylen)
{
    unsigned ev = 0;
    const char *w;
    size_t n;
    while ((w = gif_list_next(&s, &n))) {
        unsigned i;
        for (i = 0; i < WEBHOOK_EVENTS; i++)
            if (strlen(event_config_names[i]) == n && strncmp(w, event_config_names[i], n) == 0)
                break;
        if (i == WEBHOOK_EVENTS) {
            gif_seterr(why, whylen, "'%.*s' is not an event (alerts, blocking_signals, incidents)",
                       (int)(n > 100 ? 100 : n), w);
            return -1;
        }
        ev |= 1u << i;
    }
    if (!ev) {
        gif_seterr(why, whylen, "names no event (alerts, blocking_signals, incidents)");
        return -1;
    }
    *events = ev;
    return 0;
}

void webhook_sign(const char *secret, uint64_t ts, const void *body, size_t len, char hex[65])
{
    crypto_auth_hmacsha256_state st;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    char prefix[32];
    int pn = snprintf(prefix, sizeof prefix, "%" PRIu64 ".", ts);
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)prefix, (unsigned long long)pn);
    crypto_auth_hmacsha256_update(&st, body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
    gif_hex(hex, mac, sizeof mac);
}

uint64_t webhook_backoff_ms(uint32_t attempt, uint32_t r)
{
    uint64_t base = WEBHOOK_BACKOFF_MIN_MS;
    for (uint32_t i = 1; i < attempt && base < WEBHOOK_BACKOFF_MAX_MS; i++)
        base *= 2;
    if (base > WEBHOOK_BACKOFF_MAX_MS) base = WEBHOOK_BACKOFF_MAX_MS;
    uint64_t d = base - base / 4 + (uint64_t)r % (base / 2 + 1);
    return d > WEBHOOK_BACKOFF_MAX_MS ? WEBHOOK_BACKOFF_MAX_MS : d;
}

int webhook_lane(unsigned event)
{
    return event == WEBHOOK_BLOCKING_SIGNAL ? 1 : 0;
}

static void lane_append(struct webhook_queue *q, int l, struct webhook_item *it)
{
    it->next = NULL;
    it->prev = q->tail[l];
    if (q->tail[l])
        q->tail[l]->next = it;
    else
        q->head[l] = it;
    q->tail[l] = it;
    q->len++;
}

struct webhook_item *webhook_queue_push(struct webhook_queue *q, struct webhook_item *it,
                                        const struct webhook_item *busy)
{
    int l = webhook_lane(it->event);
    if (q->len < q->max) {
        lane_append(q, l, it);
        return NULL;
    }
    if (l == 1 || !q->tail[1] || q->tail[1] == busy) return it;
    struct webhook_item *out = q->tail[1];
    webhook_queue_remove(q, out);
    lane_append(q, l, it);
    return out;
}

struct webhook_item *webhook_queue_peek(const struct webhook_queue *q)
{
    return q->head[0] ? q->head[0] : q->head[1];
}

void webhook_queue_remove(struct webhook_queue *q, struct webhook_item *it)
{
    int l = webhook_lane(it->event);
    if (it->prev)
        it->prev->next = it->next;
    else
        q->head[l] = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        q->tail[l] = it->prev;
    it->prev = it->next = NULL;
    q->len--;
}

/* ---- Signals that turn blocking later: the pure parts. */

struct seen_bucket {
    uint8_t n, next; /* ids held; the slot the next id takes once the bucket is full */
    uint8_t id[WEBHOOK_SEEN_WAYS][PROTO_ID_LEN];
};

struct webhook_seen {
    size_t nb, count;
    uint8_t key[crypto_shorthash_KEYBYTES];
    struct seen_bucket b[];
};

struct webhook_seen *webhook_seen_new(size_t buckets)
{
    if (buckets == 0 || buckets > SIZE_MAX / sizeof(struct seen_bucket) - 1) return NULL;
    struct webhook_seen *s = calloc(1, sizeof *s + buckets * sizeof(struct seen_bucket));
    if (!s) return NULL;
    s->nb = buckets;
    crypto_shorthash_keygen(s->key);
    return s;
}

void webhook_seen_free(struct webhook_seen *s)
{
    free(s);
}

static struct seen_bucket *seen_bucket(const struct webhook_seen *s, const uint8_t *id)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, id, PROTO_ID_LEN, s->key);
    uint64_t x;
    memcpy(&x, h, sizeof x);
    return (struct seen_bucket *)&s->b[x % s->nb];
}

bool webhook_seen_has(const struct webhook_seen *s, const uint8_t id[static PROTO_ID_LEN])
{
    const struct seen_bucket *b = seen_bucket(s, id);
    for (unsigned i = 0; i < b->n; i++)
        if (memcmp(b->id[i], id, PROTO_ID_LEN) == 0) return true;
    return false;
}

void webhook_seen_add(struct webhook_seen *s, const uint8_t id[static PROTO_ID_LEN])
{
    if (webhook_seen_has(s, id)) return;
    struct seen_bucket *b = seen_bucket(s, id);
    if (b->n < WEBHOOK_SEEN_WAYS) {
        memcpy(b->id[b->n++], id, PROTO_ID_LEN);
        s->count++;
        return;
    }
    memcpy(b->id[b->next], id, PROTO_ID_LEN);
    b->next = (uint8_t)((b->next + 1) % WEBHOOK_SEEN_WAYS);
}

size_t webhook_seen_count(const struct webhook_seen *s)
{
    return s->count;
}

static int inc_cmp(const struct webhook_incident *e, const char *id, size_t idlen)
{
    size_t m = e->idlen < idlen ? e->idlen : idlen;
    int c = memcmp(e->id, id, m);
    if (c) return c;
    return e->idlen < idlen ? -1 : e->idlen > idlen;
}

int webhook_incidents_put(struct webhook_incidents *t, const char *id, size_t idlen,
                          const struct webhook_incstate *now, struct webhook_incstate *before)
{
    static const struct webhook_incstate none = {0, false, false};
    if (idlen == 0 || idlen > PROTO_INCIDENT_MAX) return -1;
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = inc_cmp(&t->v[mid], id, idlen);
        if (c == 0) {
            *before = t->v[mid].st;
            t->v[mid].st = *now;
            return 1;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t max = t->max ? t->max : WEBHOOK_INCIDENTS_MAX;
    int known = t->full ? -1 : 0;
    if (t->n == max) {
        t->full = true;
        return -1;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        if (cap > max) cap = max;
        struct webhook_incident *v = realloc(t->v, cap * sizeof *v);
        if (!v) {
            t->full = true; /* one is missing now */
            return -1;
        }
        t->v = v;
        t->cap = cap;
    }
    memmove(&t->v[lo + 1], &t->v[lo], (t->n - lo) * sizeof *t->v);
    struct webhook_incident *e = &t->v[lo];
    memcpy(e->id, id, idlen);
    e->idlen = (uint8_t)idlen;
    e->st = *now;
    t->n++;
    *before = none;
    return known;
}

void webhook_incidents_free(struct webhook_incidents *t)
{
    free(t->v);
    memset(t, 0, sizeof *t);
}

int webhook_rechecks_put(struct webhook_rechecks *q, const char *id, size_t idlen,
                         const struct webhook_incstate *before, uint64_t until)
{
    if (idlen == 0 || idlen > PROTO_INCIDENT_MAX) return -1;
    for (size_t i = 0; i < q->n; i++) {
        struct webhook_recheck *e = &q->v[i];
        if (e->idlen != idlen || memcmp(e->id, id, idlen) != 0) continue;
        /* The records already walked were decided against the state of that moment: the new
         * one may turn some of them block too. */
        e->after = 0;
        if (until > e->until) e->until = until;
        return 1;
    }
    if (q->n == WEBHOOK_RECHECK_PENDING) return -1;
    struct webhook_recheck *e = &q->v[q->n++];
    memset(e, 0, sizeof *e);
    memcpy(e->id, id, idlen);
    e->idlen = (uint8_t)idlen;
    e->known = before != NULL;
    if (before) e->before = *before;
    e->until = until;
    return 0;
}

struct webhook_recheck *webhook_rechecks_head(struct webhook_rechecks *q)
{
    return q->n ? &q->v[0] : NULL;
}

void webhook_rechecks_pop(struct webhook_rechecks *q)
{
    if (!q->n) return;
    q->n--;
    memmove(&q->v[0], &q->v[1], q->n * sizeof q->v[0]);
}

bool webhook_turned_block(const struct policy_config *p, const struct policy_input *in,
                          const struct webhook_incstate *prior)
{
    const char *rule;
    if (policy_decide(p, in, &rule) != POLICY_BLOCK) return false;
    if (!prior) return true;
    struct policy_input was = *in;
    was.incident_level = prior->level;
    was.incident_confirmed = prior->confirmed;
    was.incident_concluded = prior->concluded;
    return policy_decide(p, &was, &rule) != POLICY_BLOCK;
}

/* ---- The node's webhook. */

enum wstate { WS_IDLE, WS_WAIT, WS_BUSY };
static const char *const wstate_names[] = {"idle", "waiting", "sending"};

struct webhook;

/* One attempt. Freed once no libuv request or handle refers to it (conn_release). */
struct conn {
    struct webhook *wh;
    struct webhook_item *it; /* valid only while !done */
    uv_getaddrinfo_t gai;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    bool resolving, tcp_open, done;
    char *req;
    size_t reqlen;
    char resp[RESP_MAX]; /* the answer's first bytes (plaintext) */
    size_t resplen;
    /* https: the TLS engine, how much of req it has taken, and ciphertext as read. */
    struct tls_conn *tls;
    size_t sent;
    uint8_t cin[CIN_MAX];
};

/* https: ciphertext on its way to the receiver; freed by its write callback. */
struct cout {
    uv_write_t req; /* first: the callback's pointer is the whole */
    uint8_t data[];
};

struct dead_letter {
    char delivery[33];
    char record[65];
    unsigned event, reason;
    uint32_t attempts;
    uint64_t queued_ms, dead_ms;
    char error[WEBHOOK_ERROR_MAX];
};

struct webhook {
    struct node *n;
    const struct webhook_config *cfg;
    struct webhook_queue q;
    uv_timer_t timer; /* the attempt's timeout, or the backoff before the next attempt */
    bool timer_open;
    enum wstate state;
    struct conn *conn; /* the attempt in flight */
    bool stopping;
    struct dead_letter dead[WEBHOOK_DEAD_KEEP]; /* a ring: the newest at dead_next - 1 */
    size_t ndead, dead_next;
    uint64_t last_ok_ms;
    char last_error[WEBHOOK_ERROR_MAX + 40]; /* "<delivery>: <error>" */
    uint64_t overflow_log_ms;                /* monotonic: when an overflow was last logged */
    uint64_t overflow_quiet;                 /* overflows counted but not logged since then */
    struct tls_ctx *tls; /* https: the client context (trust store read at start) */
    /* Blocking signals: those already queued, and the incidents' states (webhook.h). */
    struct webhook_seen *seen;
    struct webhook_incidents inc;
    /* The cost of deciding, on the loop: per accepted signal, and of re-deciding. */
    uint64_t checks, check_ns, check_max_ns;
    uint64_t rechecks, recheck_signals, recheck_queued, recheck_cut, recheck_ns, recheck_feedback;
    uint64_t recheck_max_ns; /* the longest chunk */
    /* Incidents whose signals wait to be re-decided, a chunk per turn of the loop (idle). */
    struct webhook_rechecks pend;
    uv_idle_t idle;
    bool idle_open;
};

static void pump(struct webhook *wh);
static void wait_cb(uv_timer_t *t);

static uint64_t mono_ms(void)
{
    return gif_mono_ns() / 1000000;
}

static void gauge(struct webhook *wh)
{
    wh->n->metrics.wh_queue = wh->q.len;
}

static void item_free(struct webhook_item *it)
{
    if (!it) return;
    free(it->body);
    free(it);
}

static void dead_letter(struct webhook *wh, struct webhook_item *it, unsigned reason, bool log)
{
    wh->n->metrics.wh_dead[it->event][reason]++;
    struct dead_letter *d = &wh->dead[wh->dead_next];
    wh->dead_next = (wh->dead_next + 1) % WEBHOOK_DEAD_KEEP;
    if (wh->ndead < WEBHOOK_DEAD_KEEP) wh->ndead++;
    memcpy(d->delivery, it->delivery, sizeof d->delivery);
    memcpy(d->record, it->record, sizeof d->record);
    d->event = it->event;
    d->reason = reason;
    d->attempts = it->attempts;
    d->queued_ms = it->queued_ms;
    d->dead_ms = gif_now_ms();
    snprintf(d->error, sizeof d->error, "%s", it->last_error);
    /* A flood (a catch-up of many blocking signals) overflows once per delivery: those are
     * logged at most once per OVERFLOW_LOG_MS, with the count of the ones in between. */
    if (log && reason == WEBHOOK_DEAD_OVERFLOW) {
        uint64_t now = mono_ms();
        if (wh->overflow_log_ms && now - wh->overflow_log_ms < OVERFLOW_LOG_MS) {
            wh->overflow_quiet++;
            log = false;
        } else {
            wh->overflow_log_ms = now;
        }
    }
    if (log) {
        char more[80] = "";
        if (reason == WEBHOOK_DEAD_OVERFLOW && wh->overflow_quiet) {
            snprintf(more, sizeof more, " (and %" PRIu64 " more since the last such message)",
                     wh->overflow_quiet);
            wh->overflow_quiet = 0;
        }
        GIF_WARN("webhook",
                 "delivery %s dead-lettered (%s): %s of record %s after %" PRIu32
                 " attempt(s)%s%s%s",
                 it->delivery, dead_names[reason], event_names[it->event], it->record, it->attempts,
                 it->last_error[0] ? "; last error: " : "", it->last_error, more);
    }
    item_free(it);
}

static void conn_free(struct conn *c)
{
    tls_conn_free(c->tls);
    free(c->req);
    free(c);
}

static void tcp_closed(uv_handle_t *h)
{
    conn_free(h->data);
}

/* The attempt is over (c->done is set): let go of its handle or request; c is freed once
 * libuv is done with it. */
static void conn_release(struct conn *c)
{
    if (c->resolving) {
        uv_cancel((uv_req_t *)&c->gai); /* its callback frees c, cancelled or not */
        return;
    }
    if (c->tcp_open) {
        uv_close((uv_handle_t *)&c->tcp, tcp_closed);
        return;
    }
    conn_free(c);
}

/* Ends the attempt in flight: delivered, or failed for `why`. c must not be used after. */
static void finish(struct conn *c, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void finish(struct conn *c, bool ok, const char *fmt, ...)
{
    if (c->done) return;
    c->done = true;
    struct webhook *wh = c->wh;
    struct webhook_item *it = c->it;
    struct metrics *m = &wh->n->metrics;
    wh->conn = NULL;
    wh->state = WS_IDLE;
    uv_timer_stop(&wh->timer);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->last_error, sizeof it->last_error, fmt, ap);
    va_end(ap);
    conn_release(c);
    if (ok) {
        m->wh_delivered[it->event]++;
        wh->last_ok_ms = gif_now_ms();
        GIF_DEBUG("webhook", "delivery %s (%s of record %s) delivered: %s", it->delivery,
                  event_names[it->event], it->record, it->last_error);
        webhook_queue_remove(&wh->q, it);
        item_free(it);
    } else {
        m->wh_failures[it->event]++;
        snprintf(wh->last_error, sizeof wh->last_error, "%s: %s", it->delivery, it->last_error);
        if (it->attempts >= wh->cfg->max_attempts) {
            webhook_queue_remove(&wh->q, it);
            dead_letter(wh, it, WEBHOOK_DEAD_ATTEMPTS, true);
        } else {
            uint64_t d = webhook_backoff_ms(it->attempts, randombytes_random());
            it->not_before_ms = mono_ms() + d;
            GIF_INFO("webhook", "delivery %s attempt %" PRIu32 " failed: %s; next in %.1f s",
                     it->delivery, it->attempts, it->last_error, (double)d / 1000.0);
        }
    }
    gauge(wh);
    /* The next attempt starts from the loop, not from here: attempts that fail at once
     * (max_attempts 1, an unreachable network) must not recurse through the queue. */
    wh->state = WS_WAIT;
    uv_timer_start(&wh->timer, wait_cb, 0, 0);
}

static void timeout_cb(uv_timer_t *t)
{
    struct webhook *wh = t->data;
    if (wh->conn) finish(wh->conn, false, "no answer within %" PRIu32 " ms", wh->cfg->timeout_ms);
}

static void wait_cb(uv_timer_t *t)
{
    struct webhook *wh = t->data;
    wh->state = WS_IDLE;
    pump(wh);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct conn *c = h->data;
    if (c->tls) {
        size_t room = tls_conn_in_room(c->tls);
        *buf = uv_buf_init((char *)c->cin, (unsigned)(room < CIN_MAX ? room : CIN_MAX));
        return;
    }
    *buf = uv_buf_init(c->resp + c->resplen, (unsigned)(RESP_MAX - 1 - c->resplen));
}

/* The status code of a complete status line "HTTP/1.x NNN ...", or -1. */
static int status_code(const char *line)
{
    if (strncmp(line, "HTTP/", 5) != 0) return -1;
    const char *sp = strchr(line, ' ');
    if (!sp || !isdigit((unsigned char)sp[1]) || !isdigit((unsigned char)sp[2]) ||
        !isdigit((unsigned char)sp[3]) || isdigit((unsigned char)sp[4]))
        return -1;
    return (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
}

/* n more bytes of the answer are at the end of c->resp: ends the attempt once the status line
 * is complete, or when RESP_MAX bytes hold none. Returns true when it did (c is done). */
static bool got_answer(struct conn *c, size_t n)
{
    c->resplen += n;
    c->resp[c->resplen] = '\0';
    char *nl = strchr(c->resp, '\n');
    if (nl) {
        *nl = '\0';
        if (nl > c->resp && nl[-1] == '\r') nl[-1] = '\0';
        int code = status_code(c->resp);
        if (code < 0)
            finish(c, false, "not an HTTP status line: '%.60s'", c->resp);
        else
            finish(c, code >= 200 && code <= 299, "HTTP %d", code);
        return true;
    }
    if (c->resplen >= RESP_MAX - 1) {
        finish(c, false, "no status line in the first %d bytes", RESP_MAX);
        return true;
    }
    return false;
}

static void write_cb(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    if (status < 0 && !c->done) finish(c, false, "write: %s", uv_strerror(status));
}

/* ---- https: the TLS engine (node/tls.c) between the socket and the request. */

static void cout_cb(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    free(req); /* the whole struct cout */
    if (status < 0 && !c->done) finish(c, false, "write: %s", uv_strerror(status));
}

/* Hands the engine's ciphertext to the socket. Returns 0 or a libuv error. */
static int tls_flush(struct conn *c)
{
    size_t p;
    while ((p = tls_conn_pending(c->tls)) > 0) {
        struct cout *o = malloc(sizeof *o + p);
        if (!o) return UV_ENOMEM;
        size_t n;
        tls_conn_take(c->tls, o->data, p, &n);
        o->req.data = c;
        uv_buf_t b = uv_buf_init((char *)o->data, (unsigned)n);
        int rc = uv_write(&o->req, (uv_stream_t *)&c->tcp, &b, 1, cout_cb);
        if (rc) {
            free(o);
            return rc;
        }
    }
    return 0;
}

/* The TLS failure that ends the attempt: a refused certificate is worth a warning of its own. */
static void tls_failed(struct conn *c, int rc)
{
    const struct webhook_config *cfg = c->wh->cfg;
    tls_flush(c); /* the alert that tells the receiver why, if any */
    if (rc == -EACCES)
        GIF_WARN("webhook", "refusing the receiver %s:%d: %s", cfg->host, cfg->port,
                 tls_conn_reason(c->tls));
    finish(c, false, "TLS: %s", tls_conn_reason(c->tls));
}

/* Moves the exchange on: the handshake, then the request, then the answer's first bytes. */
static void tls_step(struct conn *c)
{
    int rc = tls_conn_handshake(c->tls);
    if (rc && rc != -EAGAIN) {
        tls_failed(c, rc);
        return;
    }
    /* The request, as the engine's outgoing cap allows: tls_flush empties it each time. */
    while (rc == 0 && c->sent < c->reqlen) {
        size_t room = tls_conn_out_room(c->tls), left = c->reqlen - c->sent;
        size_t k = left < room ? left : room;
        if (k == 0) break; /* not after a flush; the next read moves on */
        int w = tls_conn_write(c->tls, (const uint8_t *)c->req + c->sent, k);
        if (w) {
            finish(c, false, "TLS: write: %s",
                   tls_conn_state(c->tls) == TLS_FAILED ? tls_conn_reason(c->tls)
                                                        : gif_strerror(w));
            return;
        }
        c->sent += k;
        if ((w = tls_flush(c)) != 0) {
            finish(c, false, "write: %s", uv_strerror(w));
            return;
        }
    }
    while (rc == 0) {
        size_t n;
        int r =
            tls_conn_read(c->tls, (uint8_t *)c->resp + c->resplen, RESP_MAX - 1 - c->resplen, &n);
        if (r) {
            tls_failed(c, r);
            return;
        }
        if (n == 0) {
            if (tls_conn_state(c->tls) == TLS_CLOSED) {
                finish(c, false, "connection closed before a status line");
                return;
            }
            break;
        }
        if (got_answer(c, n)) return;
    }
    int w = tls_flush(c);
    if (w) finish(c, false, "write: %s", uv_strerror(w));
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct conn *c = s->data;
    if (c->done) return;
    if (nread < 0) {
        if (nread == UV_EOF)
            finish(c, false, "connection closed before a status line");
        else
            finish(c, false, "read: %s", uv_strerror((int)nread));
        return;
    }
    if (!c->tls) {
        got_answer(c, (size_t)nread);
        return;
    }
    if (nread == 0) return;
    int rc = tls_conn_feed(c->tls, c->cin, (size_t)nread);
    if (rc) {
        finish(c, false, "TLS: %s", rc == -EPIPE ? tls_conn_reason(c->tls) : gif_strerror(rc));
        return;
    }
    tls_step(c);
}

static void connect_cb(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (c->done) return;
    if (status < 0) {
        finish(c, false, "connect to %s:%d: %s", c->wh->cfg->host, c->wh->cfg->port,
               uv_strerror(status));
        return;
    }
    if (c->wh->tls) {
        int rc = tls_conn_new_host(&c->tls, c->wh->tls, c->wh->cfg->host);
        if (rc) {
            finish(c, false, "TLS: %s", gif_strerror(rc));
            return;
        }
        rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
        if (rc) {
            finish(c, false, "read: %s", uv_strerror(rc));
            return;
        }
        tls_step(c); /* the client's first message */
        return;
    }
    c->wreq.data = c;
    uv_buf_t b = uv_buf_init(c->req, (unsigned)c->reqlen);
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
    if (rc == 0) rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    if (rc) finish(c, false, "write: %s", uv_strerror(rc));
}

static void connect_to(struct conn *c, const struct sockaddr *sa)
{
    int rc = uv_tcp_init(c->wh->n->loop, &c->tcp);
    if (rc) {
        finish(c, false, "socket: %s", uv_strerror(rc));
        return;
    }
    c->tcp_open = true;
    c->tcp.data = c;
    c->creq.data = c;
    rc = uv_tcp_connect(&c->creq, &c->tcp, sa, connect_cb);
    if (rc)
        finish(c, false, "connect to %s:%d: %s", c->wh->cfg->host, c->wh->cfg->port,
               uv_strerror(rc));
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct conn *c = req->data;
    c->resolving = false;
    if (c->done) {
        uv_freeaddrinfo(res);
        conn_free(c);
        return;
    }
    if (status < 0 || !res) {
        uv_freeaddrinfo(res);
        finish(c, false, "cannot resolve %s: %s", c->wh->cfg->host, uv_strerror(status));
        return;
    }
    connect_to(c, res->ai_addr);
    uv_freeaddrinfo(res);
}

/* The request: headers signed for this attempt's timestamp, then the body. */
static char *build_request(const struct webhook_config *cfg, const struct webhook_item *it,
                           size_t *len)
{
    char sig[65], host[300];
    uint64_t ts = gif_now_ms() / 1000;
    webhook_sign(cfg->secret, ts, it->body, it->len, sig);
    bool v6 = strchr(cfg->host, ':') != NULL;
    if (cfg->port == (cfg->tls ? 443 : 80))
        snprintf(host, sizeof host, v6 ? "[%s]" : "%s", cfg->host);
    else
        snprintf(host, sizeof host, v6 ? "[%s]:%d" : "%s:%d", cfg->host, cfg->port);
    size_t cap = strlen(cfg->path) + strlen(host) + 512 + it->len;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    int n = snprintf(buf, cap,
                     "POST %s HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "User-Agent: gifd/" GIF_VERSION "\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\n"
                     "X-Gifnet-Event: %s\r\n"
                     "X-Gifnet-Delivery: %s\r\n"
                     "X-Gifnet-Timestamp: %" PRIu64 "\r\n"
                     "X-Gifnet-Signature: sha256=%s\r\n"
                     "Connection: close\r\n\r\n",
                     cfg->path, host, it->len, event_names[it->event], it->delivery, ts, sig);
    if (n < 0 || (size_t)n + it->len > cap) {
        free(buf);
        return NULL;
    }
    memcpy(buf + n, it->body, it->len);
    *len = (size_t)n + it->len;
    return buf;
}

static void attempt(struct webhook *wh, struct webhook_item *it)
{
    struct conn *c = calloc(1, sizeof *c);
    char *req = NULL;
    size_t reqlen = 0;
    if (c) req = build_request(wh->cfg, it, &reqlen);
    if (!req) {
        free(c);
        GIF_ERROR("webhook", "out of memory for delivery %s: trying again in 1 s", it->delivery);
        it->not_before_ms = mono_ms() + 1000;
        wh->state = WS_WAIT;
        uv_timer_start(&wh->timer, wait_cb, 1000, 0);
        return;
    }
    c->wh = wh;
    c->it = it;
    c->req = req;
    c->reqlen = reqlen;
    it->attempts++;
    wh->n->metrics.wh_attempts[it->event]++;
    wh->conn = c;
    wh->state = WS_BUSY;
    uv_timer_start(&wh->timer, timeout_cb, wh->cfg->timeout_ms, 0);
    const struct webhook_config *cfg = wh->cfg;
    struct sockaddr_storage ss;
    if (uv_ip4_addr(cfg->host, cfg->port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(cfg->host, cfg->port, (struct sockaddr_in6 *)&ss) == 0) {
        connect_to(c, (struct sockaddr *)&ss);
        return;
    }
    char port[8];
    snprintf(port, sizeof port, "%d", cfg->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    c->gai.data = c;
    c->resolving = true;
    int rc = uv_getaddrinfo(wh->n->loop, &c->gai, resolved, cfg->host, port, &hints);
    if (rc) {
        c->resolving = false;
        finish(c, false, "cannot resolve %s: %s", cfg->host, uv_strerror(rc));
    }
}

/* Starts the next attempt, or waits for its backoff; nothing while one is in flight. */
static void pump(struct webhook *wh)
{
    if (wh->stopping || wh->state == WS_BUSY) return;
    uv_timer_stop(&wh->timer);
    wh->state = WS_IDLE;
    struct webhook_item *it = webhook_queue_peek(&wh->q);
    if (!it) return;
    uint64_t now = mono_ms();
    if (it->not_before_ms > now) {
        wh->state = WS_WAIT;
        uv_timer_start(&wh->timer, wait_cb, it->not_before_ms - now, 0);
        return;
    }
    attempt(wh, it);
}

/* Queues record r (stored as sr) as event ev: its JSON is the API's, read from rd now. */
static void queue_record(struct webhook *wh, struct store_rd *rd, unsigned ev,
                         const struct proto_record *r, const struct store_rec *sr, uint64_t now)
{
    struct node *n = wh->n;
    char rid[65];
    gif_hex(rid, r->id, PROTO_ID_LEN);
    json_t *rec = api_record_json(rd, r, sr, &n->cfg, now);
    struct webhook_item *it = calloc(1, sizeof *it);
    if (!it) {
        json_decref(rec);
        GIF_ERROR("webhook", "record %s not delivered: out of memory", rid);
        return;
    }
    uint8_t rnd[16];
    randombytes_buf(rnd, sizeof rnd);
    gif_hex(it->delivery, rnd, sizeof rnd);
    memcpy(it->record, rid, sizeof it->record);
    it->event = ev;
    it->queued_ms = now;
    char node[65];
    gif_hex(node, n->pk, PROTO_KEY_LEN);
    json_t *body = json_pack("{s:s,s:s,s:s,s:o}", "event", event_names[ev], "delivery",
                             it->delivery, "node", node, "record", rec);
    it->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!it->body) {
        free(it);
        GIF_ERROR("webhook", "record %s not delivered: out of memory", rid);
        return;
    }
    it->len = strlen(it->body);
    struct webhook_item *out = webhook_queue_push(&wh->q, it, wh->conn ? wh->conn->it : NULL);
    if (out) {
        snprintf(out->last_error, sizeof out->last_error, "queue full (%" PRIu32 ")",
                 wh->cfg->queue_max);
        dead_letter(wh, out, WEBHOOK_DEAD_OVERFLOW, true);
    }
}

/*
 * Decides signal r (stored as sr) as a lookup of its own value would now, and queues it as a
 * blocking signal if webhook_turned_block says so (prior: its incident's state before the
 * change being handled, NULL when not known or at its arrival) and it was not queued before.
 * Returns true when it queued it.
 */
static bool check_signal(struct webhook *wh, struct store_rd *rd, const struct proto_record *r,
                         const struct store_rec *sr, const struct webhook_incstate *prior,
                         uint64_t now)
{
    if (webhook_seen_has(wh->seen, r->id)) return false;
    struct store_member m;
    bool found;
    struct store_incident inc;
    struct policy_input in;
    api_policy_read(rd, r, &wh->n->cfg, -1, now, &m, &found, &inc, &in);
    if (!webhook_turned_block(&wh->n->cfg.policy, &in, prior)) return false;
    webhook_seen_add(wh->seen, r->id);
    queue_record(wh, rd, WEBHOOK_BLOCKING_SIGNAL, r, sr, now);
    return true;
}

/* A chunk of an incident's walk (recheck_step). */
struct recheck {
    struct webhook *wh;
    struct store_rd *rd;
    const struct webhook_recheck *p;
    uint64_t now;
    uint64_t last; /* the feed position of the last record walked */
    size_t walked, signals, queued;
};

enum { RECHECK_MORE = 1, RECHECK_DONE = 2 };

static int recheck_cb(void *ctx, const uint8_t id[PROTO_ID_LEN], const struct store_rec *sr)
{
    struct recheck *k = ctx;
    /* Filed after the latest change: decided on arrival with the state it changed to. */
    if (sr->feed > k->p->until) return RECHECK_DONE;
    k->last = sr->feed;
    k->walked++;
    struct proto_record r;
    if (proto_decode_known(&r, sr->buf, sr->len, id) == 0 && r.kind == PROTO_SIGNAL) {
        k->signals++;
        if (check_signal(k->wh, k->rd, &r, sr, k->p->known ? &k->p->before : NULL, k->now))
            k->queued++;
    }
    return k->walked == WEBHOOK_RECHECK_CHUNK ? RECHECK_MORE : 0;
}

/*
 * The idle handle's callback, once per turn of the loop while incidents wait: re-decides the
 * next WEBHOOK_RECHECK_CHUNK records of the first one, in a snapshot of its own, and drops it
 * from the queue once its walk is done. The loop polls for I/O between two chunks.
 */
static void recheck_step(uv_idle_t *h)
{
    struct webhook *wh = h->data;
    struct webhook_recheck *p = webhook_rechecks_head(&wh->pend);
    if (!p || wh->stopping) {
        uv_idle_stop(h);
        return;
    }
    uint64_t t0 = gif_mono_ns();
    struct store_rd *rd = NULL;
    int rc = store_rd_open(wh->n->store, &rd);
    struct recheck k = {wh, rd, p, gif_now_ms(), p->after, 0, 0, 0};
    if (rc == 0) {
        rc = store_incident_records_from(rd, p->id, p->idlen, p->after, recheck_cb, &k);
        store_rd_close(rd);
    }
    uint64_t ns = gif_mono_ns() - t0;
    wh->recheck_signals += k.signals;
    wh->recheck_queued += k.queued;
    wh->recheck_ns += ns;
    if (ns > wh->recheck_max_ns) wh->recheck_max_ns = ns;
    p->signals += k.signals;
    p->queued += k.queued;
    p->ns += ns;
    p->chunks++;
    if (rc == RECHECK_MORE) {
        p->after = k.last;
    } else {
        if (rc < 0)
            GIF_ERROR("webhook",
                      "incident %.*s: re-deciding its signals: %s; those after the first %" PRIu64
                      " are not delivered",
                      (int)p->idlen, p->id, gif_strerror(rc), p->signals);
        else
            GIF_DEBUG("webhook",
                      "incident %.*s re-decided: %" PRIu64 " signals, %" PRIu64
                      " newly blocking, %.2f ms in %" PRIu32 " chunks",
                      (int)p->idlen, p->id, p->signals, p->queued, (double)p->ns / 1e6, p->chunks);
        webhook_rechecks_pop(&wh->pend);
        if (!wh->pend.n) uv_idle_stop(h);
    }
    gauge(wh);
    if (k.queued && wh->state != WS_BUSY) pump(wh);
}

/*
 * An alert or incident record filed under incident `name`, at feed position feed, was
 * accepted: when the incident's state, as the policy reads it, is not what it was, queues the
 * re-decision of the signals filed under it (recheck_step).
 */
static void recheck_incident(struct webhook *wh, struct store_rd *rd, const struct proto_str *name,
                             uint64_t feed)
{
    struct store_incident inc;
    if (!name->n || store_incident_get(rd, name->p, name->n, &inc) != 0) return;
    struct webhook_incstate cur = {inc.level, inc.confirmed, inc.concluded}, before;
    int known = webhook_incidents_put(&wh->inc, name->p, name->n, &cur, &before);
    if (known >= 0 && before.level == cur.level && before.confirmed == cur.confirmed &&
        before.concluded == cur.concluded)
        return;
    wh->rechecks++;
    int rc = webhook_rechecks_put(&wh->pend, name->p, name->n, known >= 0 ? &before : NULL, feed);
    if (rc < 0) {
        wh->recheck_cut++;
        GIF_WARN("webhook",
                 "incident %.*s changed while %d others wait to be re-decided: its signals are "
                 "not re-decided, those the change turned block are not delivered",
                 (int)name->n, name->p, WEBHOOK_RECHECK_PENDING);
        return;
    }
    if (!uv_is_active((uv_handle_t *)&wh->idle)) uv_idle_start(&wh->idle, recheck_step);
}

void webhook_record(struct node *n, const struct proto_record *r, const struct store_rec *sr)
{
    struct webhook *wh = n->webhook;
    if (!wh || wh->stopping) return;
    unsigned events = wh->cfg->events;
    bool signals = events & (1u << WEBHOOK_BLOCKING_SIGNAL);
    const struct proto_str *incident = NULL;
    int ev = -1;
    switch (r->kind) {
    case PROTO_ALERT:
        ev = WEBHOOK_ALERT;
        incident = &r->u.alert.incident;
        break;
    case PROTO_INCIDENT:
        ev = WEBHOOK_INCIDENT;
        incident = &r->u.incident.incident;
        break;
    case PROTO_SIGNAL:
    case PROTO_FEEDBACK:
        if (!signals) return;
        break;
    default:
        return;
    }
    if (ev >= 0 && !(events & (1u << ev))) ev = -1;
    if (ev < 0 && !signals) return;
    uint64_t t0 = gif_mono_ns();
    struct store_rd *rd;
    int rc = store_rd_open(n->store, &rd);
    if (rc) {
        char rid[65];
        gif_hex(rid, r->id, PROTO_ID_LEN);
        GIF_ERROR("webhook", "record %s not delivered: cannot read the store: %s", rid,
                  gif_strerror(rc));
        return;
    }
    uint64_t now = gif_now_ms();
    if (ev >= 0) queue_record(wh, rd, (unsigned)ev, r, sr, now);
    if (r->kind == PROTO_SIGNAL) {
        check_signal(wh, rd, r, sr, NULL, now);
        uint64_t ns = gif_mono_ns() - t0;
        wh->checks++;
        wh->check_ns += ns;
        if (ns > wh->check_max_ns) wh->check_max_ns = ns;
    } else if (r->kind == PROTO_FEEDBACK) {
        /* Its target may now block (agreement), or no longer be held back (a dispute
         * withdrawn). Its state before is not known here: the set of queued signals is what
         * keeps it to one delivery. */
        struct store_rec tsr;
        struct proto_record t;
        if (store_get_decoded(rd, r->u.feedback.target, &tsr, &t) == 0 && t.kind == PROTO_SIGNAL) {
            wh->recheck_feedback++;
            if (check_signal(wh, rd, &t, &tsr, NULL, now)) wh->recheck_queued++;
        }
    } else if (signals && incident) {
        recheck_incident(wh, rd, incident, sr->feed);
    }
    store_rd_close(rd);
    gauge(wh);
    /* A new alert may go ahead of a signal that is waiting out its backoff. */
    if (wh->state != WS_BUSY) pump(wh);
}

/* Fills the table of incident states from the store, so that a change after start is told
 * apart from a state that was already there. */
static int seed_cb(void *ctx, const struct store_incident *in)
{
    struct webhook *wh = ctx;
    struct webhook_incstate st = {in->level, in->confirmed, in->concluded}, before;
    return webhook_incidents_put(&wh->inc, in->id, strlen(in->id), &st, &before) < 0;
}

int webhook_start(struct node *n, char *err, size_t errlen)
{
    const struct webhook_config *cfg = &n->cfg.webhook;
    if (!cfg->enabled) return 0;
    struct webhook *wh = calloc(1, sizeof *wh);
    if (!wh) {
        gif_seterr(err, errlen, "webhook: out of memory");
        return -ENOMEM;
    }
    wh->n = n;
    wh->cfg = cfg;
    wh->q.max = cfg->queue_max;
    if (cfg->tls) {
        char why[512];
        int rc = tls_client_ctx_new(&wh->tls, cfg->ca_file, why, sizeof why);
        if (rc) {
            gif_seterr(err, errlen, "[webhook] %s: %s", cfg->ca_file[0] ? "ca_file" : "url", why);
            free(wh);
            return rc;
        }
    }
    if (cfg->events & (1u << WEBHOOK_BLOCKING_SIGNAL)) {
        struct store_rd *rd = NULL;
        int rc = -ENOMEM;
        wh->seen = webhook_seen_new(WEBHOOK_SEEN_BUCKETS);
        if (wh->seen) rc = store_rd_open(n->store, &rd);
        if (rc == 0) {
            rc = store_incidents_each(rd, seed_cb, wh);
            store_rd_close(rd);
        }
        if (rc < 0) {
            gif_seterr(err, errlen, "webhook: %s",
                       rc == -ENOMEM ? "out of memory" : gif_strerror(rc));
            tls_ctx_free(wh->tls);
            webhook_seen_free(wh->seen);
            webhook_incidents_free(&wh->inc);
            free(wh);
            return rc;
        }
        if (wh->inc.full)
            GIF_WARN("webhook",
                     "more than %d incidents: a signal turning block when an incident beyond "
                     "them changes may be delivered although it was blocking before",
                     WEBHOOK_INCIDENTS_MAX);
    }
    uv_timer_init(n->loop, &wh->timer);
    wh->timer.data = wh;
    wh->timer_open = true;
    uv_idle_init(n->loop, &wh->idle);
    wh->idle.data = wh;
    wh->idle_open = true;
    n->webhook = wh;
    char ev[80] = "";
    for (unsigned i = 0; i < WEBHOOK_EVENTS; i++)
        if (cfg->events & (1u << i))
            snprintf(ev + strlen(ev), sizeof ev - strlen(ev), "%s%s", ev[0] ? ", " : "",
                     event_names[i]);
    if (cfg->tls)
        GIF_INFO("webhook", "delivering %s to %s (TLS, trusting %s)", ev, cfg->url,
                 cfg->ca_file[0] ? cfg->ca_file : "the system's CAs");
    else
        GIF_INFO("webhook", "delivering %s to %s", ev, cfg->url);
    return 0;
}

void webhook_stop(struct node *n)
{
    struct webhook *wh = n->webhook;
    if (!wh || wh->stopping) return;
    wh->stopping = true;
    if (wh->conn) {
        struct conn *c = wh->conn;
        c->done = true;
        wh->conn = NULL;
        conn_release(c);
    }
    if (wh->timer_open) {
        uv_timer_stop(&wh->timer);
        uv_close((uv_handle_t *)&wh->timer, NULL);
        wh->timer_open = false;
    }
    if (wh->idle_open) {
        uv_idle_stop(&wh->idle);
        uv_close((uv_handle_t *)&wh->idle, NULL);
        wh->idle_open = false;
    }
    /* The table of states is read again from the store at the next start: these changes are
     * not seen again, so the signals they turn block and that were not reached go undelivered. */
    for (struct webhook_recheck *p; (p = webhook_rechecks_head(&wh->pend));) {
        GIF_WARN("webhook",
                 "stopping: incident %.*s not fully re-decided (%" PRIu64
                 " signals so far); signals it turned block after those are not delivered",
                 (int)p->idlen, p->id, p->signals);
        webhook_rechecks_pop(&wh->pend);
    }
    size_t left = wh->q.len, logged = 0;
    struct webhook_item *it;
    while ((it = webhook_queue_peek(&wh->q))) {
        webhook_queue_remove(&wh->q, it);
        if (!it->last_error[0]) snprintf(it->last_error, sizeof it->last_error, "node stopping");
        dead_letter(wh, it, WEBHOOK_DEAD_STOPPED, logged++ < STOP_LOG_MAX);
    }
    gauge(wh);
    if (left)
        GIF_WARN("webhook", "%zu deliveries undelivered at stop%s", left,
                 left > STOP_LOG_MAX ? " (the first ones named above)" : "");
}

void webhook_free(struct node *n)
{
    struct webhook *wh = n->webhook;
    if (!wh) return;
    struct webhook_item *it;
    while ((it = webhook_queue_peek(&wh->q))) {
        webhook_queue_remove(&wh->q, it);
        item_free(it);
    }
    tls_ctx_free(wh->tls);
    webhook_seen_free(wh->seen);
    webhook_incidents_free(&wh->inc);
    free(wh);
    n->webhook = NULL;
}

static json_t *by_event(const uint64_t *v)
{
    json_t *o = json_object();
    for (unsigned i = 0; i < WEBHOOK_EVENTS; i++)
        json_object_set_new(o, event_names[i], json_integer((json_int_t)v[i]));
    return o;
}

json_t *webhook_json(struct node *n)
{
    struct webhook *wh = n->webhook;
    if (!wh) return json_pack("{s:b}", "enabled", 0);
    const struct metrics *m = &n->metrics;
    const struct webhook_config *cfg = wh->cfg;
    json_t *events = json_array();
    for (unsigned i = 0; i < WEBHOOK_EVENTS; i++)
        if (cfg->events & (1u << i)) json_array_append_new(events, json_string(event_names[i]));
    uint64_t dead[WEBHOOK_EVENTS];
    for (unsigned i = 0; i < WEBHOOK_EVENTS; i++) {
        dead[i] = 0;
        for (unsigned k = 0; k < WEBHOOK_DEAD_REASONS; k++)
            dead[i] += m->wh_dead[i][k];
    }
    json_t *letters = json_array();
    for (size_t k = 0; k < wh->ndead; k++) {
        const struct dead_letter *d =
            &wh->dead[(wh->dead_next + WEBHOOK_DEAD_KEEP - 1 - k) % WEBHOOK_DEAD_KEEP];
        json_array_append_new(letters,
                              json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:o,s:o}", "delivery",
                                        d->delivery, "event", event_names[d->event], "record",
                                        d->record, "reason", dead_names[d->reason], "attempts",
                                        (int)d->attempts, "error", d->error, "queued",
                                        api_time(d->queued_ms), "dead", api_time(d->dead_ms)));
    }
    const struct webhook_item *next = webhook_queue_peek(&wh->q);
    json_t *o = json_pack("{s:b,s:s,s:o,s:i,s:i,s:I,s:I,s:s}", "enabled", 1, "url", cfg->url,
                          "events", events, "timeout_ms", (int)cfg->timeout_ms, "max_attempts",
                          (int)cfg->max_attempts, "queue", (json_int_t)wh->q.len, "queue_max",
                          (json_int_t)cfg->queue_max, "state", wstate_names[wh->state]);
    if (next)
        json_object_set_new(o, "next",
                            json_pack("{s:s,s:s,s:i}", "delivery", next->delivery, "event",
                                      event_names[next->event], "attempts", (int)next->attempts));
    else
        json_object_set_new(o, "next", json_null());
    json_object_set_new(o, "delivered", by_event(m->wh_delivered));
    json_object_set_new(o, "attempts", by_event(m->wh_attempts));
    json_object_set_new(o, "failures", by_event(m->wh_failures));
    json_object_set_new(o, "dead_letters", by_event(dead));
    json_object_set_new(o, "last_delivered", api_time(wh->last_ok_ms));
    json_object_set_new(o, "last_error",
                        wh->last_error[0] ? json_string(wh->last_error) : json_null());
    json_object_set_new(o, "dead", letters);
    if (cfg->tls)
        json_object_set_new(o, "ca_file",
                            cfg->ca_file[0] ? json_string(cfg->ca_file) : json_null());
    if (wh->seen)
        json_object_set_new(
            o, "blocking",
            json_pack(
                "{s:I,s:f,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:I}", "checks",
                (json_int_t)wh->checks, "check_mean_us",
                wh->checks ? (double)wh->check_ns / (double)wh->checks / 1e3 : 0.0, "check_max_us",
                (double)wh->check_max_ns / 1e3, "feedback", (json_int_t)wh->recheck_feedback,
                "incident_changes", (json_int_t)wh->rechecks, "rechecked",
                (json_int_t)wh->recheck_signals, "turned_blocking", (json_int_t)wh->recheck_queued,
                "pending", (json_int_t)wh->pend.n, "cut", (json_int_t)wh->recheck_cut, "recheck_ms",
                (double)wh->recheck_ns / 1e6, "recheck_max_ms", (double)wh->recheck_max_ns / 1e6,
                "remembered", (json_int_t)webhook_seen_count(wh->seen)));
    return o;
}
