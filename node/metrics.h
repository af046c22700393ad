/* Counters and a latency histogram, rendered as Prometheus text. Loop thread only. */
#ifndef GIF_NODE_METRICS_H
#define GIF_NODE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/record.h"

#define METRICS_BUCKETS 13
#define METRICS_REASONS 24 /* -GIF_E_* - 1000, plus 0 for "other" */
#define METRICS_CODES 16
#define METRICS_PROP_BUCKETS 12
#define METRICS_WH_EVENTS 3  /* enum webhook_event (node/webhook.h) */
#define METRICS_WH_REASONS 3 /* enum webhook_dead */

struct metrics {
    uint64_t records_by_kind[PROTO_KIND_MAX + 1];
    uint64_t lookups_by_type[6];
    uint64_t lookup_matches;
    uint64_t match_queries;
    uint64_t match_hits;
    uint64_t rejects[METRICS_REASONS];
    uint64_t write_batches;
    uint64_t write_failures;
    int http_codes[METRICS_CODES];
    uint64_t http_count[METRICS_CODES];
    uint64_t lat_buckets[METRICS_BUCKETS]; /* cumulative at render time, not here */
    uint64_t lat_count;
    double lat_sum;
    /* The network (node/net.c). */
    uint64_t net_received;    /* records received from peers (pushed and pulled) */
    uint64_t net_duplicates;  /* of those, already stored */
    uint64_t net_pushed;      /* records pushed to peers */
    uint64_t net_push_dropped; /* pushes skipped because a peer's queue was full */
    uint64_t net_pulls;       /* WANT requests sent */
    uint64_t net_penalties;   /* peers penalised for protocol violations */
    uint64_t net_cut_through; /* pushed records forwarded before they were durable here */
    uint64_t net_graft_timeout_ms; /* gauge: the current adaptive graft timeout */
    uint64_t net_prunes;      /* links made lazy after a push brought only duplicates */
    uint64_t net_grafts;      /* GRAFT requests sent for announced records that did not come */
    uint64_t prop_buckets[METRICS_PROP_BUCKETS]; /* origin's publish time to local acceptance */
    uint64_t prop_count;
    double prop_sum;
    /* The webhook (node/webhook.c), by event. */
    uint64_t wh_delivered[METRICS_WH_EVENTS];
    uint64_t wh_attempts[METRICS_WH_EVENTS];
    uint64_t wh_failures[METRICS_WH_EVENTS]; /* attempts that failed (retried or not) */
    uint64_t wh_dead[METRICS_WH_EVENTS][METRICS_WH_REASONS];
    uint64_t wh_queue; /* gauge: deliveries waiting, the one in flight included */
};

/* One ready peer link's counters, read at render time (node/net.c fills them). */
#define METRICS_PEERS_MAX 64
struct metrics_peer {
    char key[17]; /* the first 8 bytes of its node key, hex */
    char org[65];
    uint64_t sent, received, accepted, duplicates;
    double rtt_ms; /* 0: not measured yet */
};

/* Gauges read at render time. */
struct metrics_gauges {
    uint64_t pdq_index;
    uint64_t held;
    uint64_t frozen;
    uint64_t events_clients;
    uint64_t records;
    uint64_t peers_ready;
    const struct metrics_peer *peers;
    size_t npeers;
};

void metrics_reject(struct metrics *m, int reason);
void metrics_http(struct metrics *m, int status, uint64_t elapsed_ns);
/* A record from another origin was accepted delay_ms after its origin published it. */
void metrics_propagation(struct metrics *m, int64_t delay_ms);
/* Renders into a malloc'd NUL-terminated string the caller frees; NULL on no memory. */
char *metrics_render(const struct metrics *m, const struct metrics_gauges *g);

#endif
