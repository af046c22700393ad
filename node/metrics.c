#include "node/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/record.h"
#include "util/gif.h"

static const double bounds[METRICS_BUCKETS - 1] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                   0.05,   0.1,   0.25,   0.5,   1,    2.5};

static const double prop_bounds[METRICS_PROP_BUCKETS - 1] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                              1,    2.5,   5,    10,  60};

void metrics_propagation(struct metrics *m, int64_t delay_ms)
{
    /* Clocks differ between members: a negative delay counts as zero. */
    double s = delay_ms > 0 ? (double)delay_ms / 1000.0 : 0;
    int b = 0;
    while (b < METRICS_PROP_BUCKETS - 1 && s > prop_bounds[b]) b++;
    m->prop_buckets[b]++;
    m->prop_count++;
    m->prop_sum += s;
}

void metrics_reject(struct metrics *m, int reason)
{
    int idx = -reason - 1000;
    if (idx <= 0 || idx >= METRICS_REASONS) idx = 0;
    m->rejects[idx]++;
}

void metrics_http(struct metrics *m, int status, uint64_t elapsed_ns)
{
    int i;
    for (i = 0; i < METRICS_CODES; i++) {
        if (m->http_codes[i] == status) break;
        if (m->http_codes[i] == 0) {
            m->http_codes[i] = status;
            break;
        }
    }
    if (i < METRICS_CODES) m->http_count[i]++;
    double s = (double)elapsed_ns / 1e9;
    int b = 0;
    while (b < METRICS_BUCKETS - 1 && s > bounds[b])
        b++;
    m->lat_buckets[b]++;
    m->lat_count++;
    m->lat_sum += s;
}

struct out {
    char *buf;
    size_t len, cap;
    int oom;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    if (o->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->oom = 1;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = (o->cap + (size_t)n) * 2;
        char *nb = realloc(o->buf, cap);
        if (!nb) {
            o->oom = 1;
            return;
        }
        o->buf = nb;
        o->cap = cap;
    }
}

char *metrics_render(const struct metrics *m, const struct metrics_gauges *g)
{
    struct out o = {malloc(8192), 0, 8192, 0};
    if (!o.buf) return NULL;
    put(&o, "# HELP gifnet_records_total Records accepted into the store since start, by kind.\n"
            "# TYPE gifnet_records_total counter\n");
    for (uint8_t k = PROTO_SIGNAL; k <= PROTO_REVOCATION; k++)
        put(&o, "gifnet_records_total{kind=\"%s\"} %llu\n", proto_kind_name(k),
            (unsigned long long)m->records_by_kind[k]);
    put(&o,
        "# HELP gifnet_records_stored Records in the store.\n"
        "# TYPE gifnet_records_stored gauge\ngifnet_records_stored %llu\n",
        (unsigned long long)g->records);
    put(&o, "# HELP gifnet_lookups_total Exact lookups answered, by signal type.\n"
            "# TYPE gifnet_lookups_total counter\n");
    for (uint8_t t = PROTO_ST_MD5; t <= PROTO_ST_URL; t++)
        put(&o, "gifnet_lookups_total{type=\"%s\"} %llu\n", proto_stype_name(t),
            (unsigned long long)m->lookups_by_type[t]);
    put(&o,
        "# HELP gifnet_lookup_matches_total Records returned by exact lookups.\n"
        "# TYPE gifnet_lookup_matches_total counter\ngifnet_lookup_matches_total %llu\n",
        (unsigned long long)m->lookup_matches);
    put(&o,
        "# HELP gifnet_match_queries_total Near-match queries (one per hash).\n"
        "# TYPE gifnet_match_queries_total counter\ngifnet_match_queries_total %llu\n",
        (unsigned long long)m->match_queries);
    put(&o,
        "# HELP gifnet_matches_total Records returned by near-match queries.\n"
        "# TYPE gifnet_matches_total counter\ngifnet_matches_total %llu\n",
        (unsigned long long)m->match_hits);
    put(&o, "# HELP gifnet_rejects_total Records refused, by reason.\n"
            "# TYPE gifnet_rejects_total counter\n");
    for (int i = 0; i < METRICS_REASONS; i++) {
        if (!m->rejects[i]) continue;
        put(&o, "gifnet_rejects_total{reason=\"%s\"} %llu\n", i ? gif_errname(-1000 - i) : "other",
            (unsigned long long)m->rejects[i]);
    }
    put(&o,
        "# HELP gifnet_write_batches_total Write transactions committed.\n"
        "# TYPE gifnet_write_batches_total counter\ngifnet_write_batches_total %llu\n",
        (unsigned long long)m->write_batches);
    put(&o,
        "# HELP gifnet_write_failures_total Write transactions that failed (nothing written).\n"
        "# TYPE gifnet_write_failures_total counter\ngifnet_write_failures_total %llu\n",
        (unsigned long long)m->write_failures);
    put(&o, "# HELP gifnet_http_requests_total HTTP requests answered, by status code.\n"
            "# TYPE gifnet_http_requests_total counter\n");
    for (int i = 0; i < METRICS_CODES && m->http_codes[i]; i++)
        put(&o, "gifnet_http_requests_total{code=\"%d\"} %llu\n", m->http_codes[i],
            (unsigned long long)m->http_count[i]);
    put(&o, "# HELP gifnet_http_request_duration_seconds Time from request to answer.\n"
            "# TYPE gifnet_http_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (int b = 0; b < METRICS_BUCKETS; b++) {
        cum += m->lat_buckets[b];
        if (b < METRICS_BUCKETS - 1)
            put(&o, "gifnet_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n", bounds[b],
                (unsigned long long)cum);
        else
            put(&o, "gifnet_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                (unsigned long long)cum);
    }
    put(&o, "gifnet_http_request_duration_seconds_sum %.6f\n", m->lat_sum);
    put(&o, "gifnet_http_request_duration_seconds_count %llu\n", (unsigned long long)m->lat_count);
    put(&o,
        "# HELP gifnet_pdq_index_size PDQ hashes in the similarity index.\n"
        "# TYPE gifnet_pdq_index_size gauge\ngifnet_pdq_index_size %llu\n",
        (unsigned long long)g->pdq_index);
    put(&o,
        "# HELP gifnet_held_records Records held aside past a gap.\n"
        "# TYPE gifnet_held_records gauge\ngifnet_held_records %llu\n",
        (unsigned long long)g->held);
    put(&o,
        "# HELP gifnet_frozen_origins Origins frozen after an equivocation.\n"
        "# TYPE gifnet_frozen_origins gauge\ngifnet_frozen_origins %llu\n",
        (unsigned long long)g->frozen);
    put(&o,
        "# HELP gifnet_events_clients Open /v1/events streams.\n"
        "# TYPE gifnet_events_clients gauge\ngifnet_events_clients %llu\n",
        (unsigned long long)g->events_clients);
    put(&o, "# HELP gifnet_peers_ready Peer links ready.\n"
            "# TYPE gifnet_peers_ready gauge\ngifnet_peers_ready %llu\n",
        (unsigned long long)g->peers_ready);
    put(&o, "# HELP gifnet_peer_records_received_total Records received from peers.\n"
            "# TYPE gifnet_peer_records_received_total counter\n"
            "gifnet_peer_records_received_total %llu\n",
        (unsigned long long)m->net_received);
    put(&o, "# HELP gifnet_peer_duplicates_total Records received that were already stored.\n"
            "# TYPE gifnet_peer_duplicates_total counter\ngifnet_peer_duplicates_total %llu\n",
        (unsigned long long)m->net_duplicates);
    put(&o, "# HELP gifnet_peer_records_pushed_total Records pushed to peers.\n"
            "# TYPE gifnet_peer_records_pushed_total counter\n"
            "gifnet_peer_records_pushed_total %llu\n",
        (unsigned long long)m->net_pushed);
    put(&o, "# HELP gifnet_peer_push_dropped_total Pushes skipped: the peer's queue was full.\n"
            "# TYPE gifnet_peer_push_dropped_total counter\n"
            "gifnet_peer_push_dropped_total %llu\n",
        (unsigned long long)m->net_push_dropped);
    put(&o, "# HELP gifnet_peer_penalties_total Peers refused for a while after a protocol "
            "violation.\n# TYPE gifnet_peer_penalties_total counter\n"
            "gifnet_peer_penalties_total %llu\n",
        (unsigned long long)m->net_penalties);
    put(&o, "# HELP gifnet_plumtree_prunes_total Links made lazy (a push brought only "
            "duplicates).\n# TYPE gifnet_plumtree_prunes_total counter\n"
            "gifnet_plumtree_prunes_total %llu\n",
        (unsigned long long)m->net_prunes);
    put(&o, "# HELP gifnet_plumtree_grafts_total GRAFT requests sent (announced records that "
            "did not arrive by push).\n# TYPE gifnet_plumtree_grafts_total counter\n"
            "gifnet_plumtree_grafts_total %llu\n",
        (unsigned long long)m->net_grafts);
    put(&o, "# HELP gifnet_antientropy_pulls_total WANT requests sent to peers.\n"
            "# TYPE gifnet_antientropy_pulls_total counter\n"
            "gifnet_antientropy_pulls_total %llu\n",
        (unsigned long long)m->net_pulls);
    put(&o, "# HELP gifnet_propagation_delay_seconds Origin's publish time to local acceptance, "
            "records of other origins.\n"
            "# TYPE gifnet_propagation_delay_seconds histogram\n");
    uint64_t pc = 0;
    for (int b = 0; b < METRICS_PROP_BUCKETS; b++) {
        pc += m->prop_buckets[b];
        if (b < METRICS_PROP_BUCKETS - 1)
            put(&o, "gifnet_propagation_delay_seconds_bucket{le=\"%g\"} %llu\n", prop_bounds[b],
                (unsigned long long)pc);
        else
            put(&o, "gifnet_propagation_delay_seconds_bucket{le=\"+Inf\"} %llu\n",
                (unsigned long long)pc);
    }
    put(&o, "gifnet_propagation_delay_seconds_sum %.6f\n", m->prop_sum);
    put(&o, "gifnet_propagation_delay_seconds_count %llu\n", (unsigned long long)m->prop_count);
    if (o.oom) {
        free(o.buf);
        return NULL;
    }
    return o.buf;
}
