/*
 * The webhook: each accepted alert, incident record and blocking signal, POSTed as signed JSON
 * to one configured URL, http:// or https:// (`[webhook]`, docs/operations.md; payload and
 * signature in docs/api.md "Webhooks"). Loop thread only.
 *
 * A signal is delivered as blocking when its own arrival makes it block, and again when a
 * later record turns it block: feedback on it, or an alert or incident record that changes
 * its incident's state. Such a change queues the incident (at most WEBHOOK_RECHECK_PENDING
 * wait); its records are then walked WEBHOOK_RECHECK_CHUNK at a time, one chunk per turn of
 * the loop, each in a fresh read snapshot, until all are re-decided. A bounded set of the
 * signals already queued keeps each to one delivery while the node runs; a table of the
 * incidents' states, as the policy sees them, tells which signals the change itself turned
 * block.
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
#include "node/policy.h"
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
#define WEBHOOK_ERROR_MAX 200         /* an attempt's error, as kept and shown */
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
 * an alert, an incident record, or a signal whose exact-match verdict here is block; and, for
 * feedback, an alert or an incident record, the signals it turned block (webhook.h, top).
 * Called once per accepted record, in feed order, from the feed applier. Never blocks: the
 * work is a few store reads per record; an incident whose state changed is queued, and its
 * records are re-decided later, WEBHOOK_RECHECK_CHUNK per turn of the loop. */
void webhook_record(struct node *n, const struct proto_record *r, const struct store_rec *sr);

/* GET /v1/webhook: configuration (without the secret), queue, counters, dead letters. */
json_t *webhook_json(struct node *n);

/* ---- Pure parts (unit-tested in tests/unit/test_webhook.c). */

/* Parses http[s]://host[:port][/path[?query]] into c->tls, c->host, c->port (default 80, or
 * 443 for https), c->path. host is a name, an IPv4 address or a bracketed IPv6 address.
 * Returns 0, or -1 with a reason in why. */
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
    char last_error[WEBHOOK_ERROR_MAX];
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

/* ---- Signals that turn blocking later (pure parts). */

/* Records of an incident re-decided per turn of the loop (docs/performance.md, "Webhook":
 * about 2 ms when every one turns block). */
#define WEBHOOK_RECHECK_CHUNK 100
/* Incidents whose re-decision waits or is under way, at most (7.5 KiB). */
#define WEBHOOK_RECHECK_PENDING 64
/* The set of signals already queued as blocking: buckets of WEBHOOK_SEEN_WAYS ids. */
#define WEBHOOK_SEEN_WAYS 8
#define WEBHOOK_SEEN_BUCKETS 8192 /* the node's: 65,536 ids, 2 MiB */
/* Incidents whose state the node follows (their ids and states: about 1.1 MiB at most). */
#define WEBHOOK_INCIDENTS_MAX 16384

/*
 * A bounded set of record ids: buckets * WEBHOOK_SEEN_WAYS at most. A bucket that is full
 * forgets its oldest id to take a new one. Buckets are chosen by a keyed hash (a random key
 * per set), so records cannot be made to evict one another on purpose.
 */
struct webhook_seen;
/* Returns a set of `buckets` buckets (at least 1), or NULL when out of memory. */
struct webhook_seen *webhook_seen_new(size_t buckets);
void webhook_seen_free(struct webhook_seen *s);
bool webhook_seen_has(const struct webhook_seen *s, const uint8_t id[static PROTO_ID_LEN]);
/* Adds id (nothing if it is there already). */
void webhook_seen_add(struct webhook_seen *s, const uint8_t id[static PROTO_ID_LEN]);
/* Ids held now. */
size_t webhook_seen_count(const struct webhook_seen *s);

/* What the policy reads of an incident (struct policy_input's incident fields). */
struct webhook_incstate {
    uint8_t level;
    bool confirmed, concluded;
};

struct webhook_incident {
    char id[PROTO_INCIDENT_MAX];
    uint8_t idlen;
    struct webhook_incstate st;
};

/* The incidents' states as last seen, sorted by id; at most max (0: WEBHOOK_INCIDENTS_MAX). */
struct webhook_incidents {
    struct webhook_incident *v;
    size_t n, cap, max;
    bool full; /* an incident was left out: one not in the table may be an old one */
};

/*
 * Sets incident id's state to now and tells what it was. Returns 1 with *before its previous
 * state; 0 for an incident not in the table while it is complete (new since it was filled:
 * *before is the state of no incident, all zero); -1 when its previous state is not known
 * (the table is full, or out of memory). The caller zeroes t first; free with
 * webhook_incidents_free.
 */
int webhook_incidents_put(struct webhook_incidents *t, const char *id, size_t idlen,
                          const struct webhook_incstate *now, struct webhook_incstate *before);
void webhook_incidents_free(struct webhook_incidents *t);

/* An incident whose signals are to be re-decided after a change of its state. */
struct webhook_recheck {
    char id[PROTO_INCIDENT_MAX];
    uint8_t idlen;
    bool known;                     /* before holds its state before the change */
    struct webhook_incstate before; /* the earliest of the changes merged into this one */
    uint64_t after;                 /* the walk resumes after this feed position (0: start) */
    uint64_t until; /* the latest change's feed position: later ones were decided on arrival */
    /* What the walk has done so far (for the log). */
    uint64_t signals, queued, ns;
    uint32_t chunks;
};

/* The incidents waiting, in the order they changed (a FIFO). */
struct webhook_rechecks {
    struct webhook_recheck v[WEBHOOK_RECHECK_PENDING];
    size_t n;
};

/*
 * Queues incident id for a re-decision of its signals after a change at feed position until,
 * its state before being *before (NULL: not known). When it waits already, the change merges
 * into it: its earlier "before" is kept, its walk starts again from the first record (the set
 * of queued signals keeps those already delivered to one delivery) and runs up to this
 * change. Returns 0 when queued, 1 when merged, -1 when the queue is full (or id is empty or
 * too long).
 */
int webhook_rechecks_put(struct webhook_rechecks *q, const char *id, size_t idlen,
                         const struct webhook_incstate *before, uint64_t until);
/* The first waiting, or NULL; valid until the next put or pop. */
struct webhook_recheck *webhook_rechecks_head(struct webhook_rechecks *q);
/* Removes the first waiting (nothing when none). */
void webhook_rechecks_pop(struct webhook_rechecks *q);

/*
 * Whether a signal whose policy input is `in` is to be delivered as newly blocking: its
 * verdict under p is block and, when prior is not NULL, it would not have been with its
 * incident in state prior (the rest of in unchanged). prior NULL: not known, any block counts.
 */
bool webhook_turned_block(const struct policy_config *p, const struct policy_input *in,
                          const struct webhook_incstate *prior);

#endif
