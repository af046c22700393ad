/*
 * The webhook: each accepted alert, incident record and blocking signal, POSTed as signed JSON
 * to one configured URL (`[webhook]`, docs/operations.md; payload and signature in
 * docs/api.md "Webhooks"). Loop thread only.
 *
 * Deliveries wait in a bounded queue with two lanes (alerts and incident records ahead of
 * blocking signals); one is in flight at a time, in order within its lane. A failed attempt
 * (not 2xx, a timeout, a connection error) is retried after an exponential backoff with
 * jitter; after max_attempts it is dead-lettered: counted, logged with its delivery id, and
 * kept among the last WEBHOOK_DEAD_KEEP shown by GET /v1/webhook.
 */
#ifndef GIF_NODE_WEBHOOK_H
#define GIF_NODE_WEBHOOK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/config.h"
#include "protocol/record.h"
#include "storage/store.h"

struct node;

enum webhook_event { WEBHOOK_ALERT = 0, WEBHOOK_BLOCKING_SIGNAL = 1, WEBHOOK_INCIDENT = 2 };
#define WEBHOOK_EVENTS 3
#define WEBHOOK_EVENTS_ALL ((1u << WEBHOOK_EVENTS) - 1)

/* Why a delivery was given up. */
enum webhook_dead {
    WEBHOOK_DEAD_ATTEMPTS = 0,
    WEBHOOK_DEAD_OVERFLOW = 1,
    WEBHOOK_DEAD_STOPPED = 2
};
#define WEBHOOK_DEAD_REASONS 3

#define WEBHOOK_DEAD_KEEP 100         /* dead letters kept in memory for GET /v1/webhook */
#define WEBHOOK_BACKOFF_MIN_MS 1000   /* the first retry's nominal delay */
#define WEBHOOK_BACKOFF_MAX_MS 300000 /* the cap (5 min) */

/* "alert", "blocking_signal", "incident"; NULL for another value. */
const char *webhook_event_name(unsigned ev);
/* "attempts", "overflow", "stopped". */
const char *webhook_dead_name(unsigned reason);

/* ---- Lifetime (node.c). */

/* Creates n->webhook when [webhook] url is set (else leaves it NULL). Returns 0 or -ENOMEM. */
int webhook_start(struct node *n, char *err, size_t errlen);
/* Aborts the attempt in flight and closes the handles; deliveries still queued are logged and
 * counted as dead letters (reason "stopped"). Idempotent. */
void webhook_stop(struct node *n);
/* Frees n->webhook; after uv_run has returned. */
void webhook_free(struct node *n);

/* Queues a delivery if r (accepted just now, stored as sr) is an event the config asks for:
 * an alert, an incident record, or a signal whose exact-match verdict here is block. Called
 * once per accepted record, in feed order, from the feed applier. Never blocks. */
void webhook_record(struct node *n, const struct proto_record *r, const struct store_rec *sr);

/* GET /v1/webhook: configuration (without the secret), queue, counters, dead letters. */
json_t *webhook_json(struct node *n);

/* ---- Pure parts (unit-tested in tests/unit/test_webhook.c). */

/* Parses http://host[:port][/path[?query]] into c->host, c->port, c->path. host is a name, an
 * IPv4 address or a bracketed IPv6 address. Returns 0, or -1 with a reason in why. */
int webhook_url_parse(const char *url, struct webhook_config *c, char *why, size_t whylen);

/* Parses a comma list of `alerts`, `blocking_signals`, `incidents` into a bit set (at least
 * one). Returns 0, or -1 with the offending item in why. */
int webhook_events_parse(const char *s, unsigned *events, char *why, size_t whylen);

/* hex = lower-case hex of HMAC-SHA256(secret, ts "." body), 64 digits and a NUL. */
void webhook_sign(const char *secret, uint64_t ts, const void *body, size_t len, char hex[65]);

/* The delay before retry number `attempt` (1 after the first failure): 1 s doubled each time,
 * capped at 5 min, then scaled by a jitter in [0.75, 1.25] taken from r (any 32 random bits),
 * and capped again. */
uint64_t webhook_backoff_ms(uint32_t attempt, uint32_t r);

/* The queue: two FIFO lanes, at most max items together. */
struct webhook_item {
    struct webhook_item *prev, *next;
    unsigned event;
    char delivery[33]; /* 32 hex digits */
    char record[65];   /* the record's id, hex */
    char *body;        /* the JSON payload (malloc'd) */
    size_t len;
    uint32_t attempts;      /* made so far */
    uint64_t queued_ms;     /* wall clock */
    uint64_t not_before_ms; /* monotonic ms: its next attempt waits until then */
    char last_error[120];
};

struct webhook_queue {
    struct webhook_item *head[2], *tail[2]; /* lane 0: alerts and incidents; 1: signals */
    size_t len, max;
};

/* The lane of an event: 0 for alerts and incident records, 1 for blocking signals. */
int webhook_lane(unsigned event);
/*
 * Appends it to its lane. When the queue is full, a signal is refused (returned: the caller
 * dead-letters it); an alert or incident record takes the place of the newest queued signal
 * (that one is returned) other than busy (the item in flight, or NULL), or is refused itself
 * when there is none. Returns NULL when it was queued without displacing anything.
 */
struct webhook_item *webhook_queue_push(struct webhook_queue *q, struct webhook_item *it,
                                        const struct webhook_item *busy);
/* The next to send: the head of lane 0, else of lane 1; NULL when empty. */
struct webhook_item *webhook_queue_peek(const struct webhook_queue *q);
/* Unlinks it (anywhere in its lane). */
void webhook_queue_remove(struct webhook_queue *q, struct webhook_item *it);

#endif
