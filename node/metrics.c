#include "node/metrics.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/webhook.h"
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
    while (b < METRICS_PROP_BUCKETS - 1 && s > prop_bounds[b])
        b++;
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

/* A label value, escaped as the exposition format wants (backslash, quote, newline). */
static void label(struct out *o, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            put(o, "\\%c", *v);
        else if (*v == '\n')
            put(o, "\\n");
        else
            put(o, "%c", *v);
    }
}

/* One counter or gauge with its HELP and TYPE lines. */
static void scalar(struct out *o, const char *name, const char *type, const char *help, uint64_t v)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
        (unsigned long long)v);
}

/* A histogram: counts per bucket (not cumulative; the last is +Inf), sum and count. */
static void histogram(struct out *o, const char *name, const char *help, const double *le,
                      const uint64_t *buckets, int nb, double sum, uint64_t count)
{
    put(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int b = 0; b < nb; b++) {
        cum += buckets[b];
        if (b < nb - 1)
            put(o, "%s_bucket{le=\"%g\"} %llu\n", name, le[b], (unsigned long long)cum);
        else
            put(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    put(o, "%s_sum %.6f\n%s_count %llu\n", name, sum, name, (unsigned long long)count);
}

char *metrics_render(const struct metrics *m, const struct metrics_gauges *g)
{
    struct out o = {malloc(8192), 0, 8192, 0};
    if (!o.buf) return NULL;
    put(&o, "# HELP gifnet_records_total Records accepted into the store since start, by kind.\n"
            "# TYPE gifnet_records_total counter\n");
    for (uint8_t k = PROTO_SIGNAL; k <= PROTO_KIND_MAX; k++)
        put(&o, "gifnet_records_total{kind=\"%s\"} %llu\n", proto_kind_name(k),
            (unsigned long long)m->records_by_kind[k]);
    scalar(&o, "gifnet_records_stored", "gauge", "Records in the store.", g->records);
    put(&o, "# HELP gifnet_lookups_total Exact lookups answered, by signal type.\n"
            "# TYPE gifnet_lookups_total counter\n");
    for (uint8_t t = PROTO_ST_MD5; t <= PROTO_ST_URL; t++)
        put(&o, "gifnet_lookups_total{type=\"%s\"} %llu\n", proto_stype_name(t),
            (unsigned long long)m->lookups_by_type[t]);
    scalar(&o, "gifnet_lookup_matches_total", "counter", "Records returned by exact lookups.",
           m->lookup_matches);
    scalar(&o, "gifnet_match_queries_total", "counter", "Near-match queries (one per hash).",
           m->match_queries);
    scalar(&o, "gifnet_matches_total", "counter", "Records returned by near-match queries.",
           m->match_hits);
    put(&o, "# HELP gifnet_rejects_total Records refused, by reason.\n"
            "# TYPE gifnet_rejects_total counter\n");
    for (int i = 0; i < METRICS_REASONS; i++) {
        if (!m->rejects[i]) continue;
        put(&o, "gifnet_rejects_total{reason=\"%s\"} %llu\n", i ? gif_errname(-1000 - i) : "other",
            (unsigned long long)m->rejects[i]);
    }
    scalar(&o, "gifnet_write_batches_total", "counter", "Write transactions committed.",
           m->write_batches);
    scalar(&o, "gifnet_write_failures_total", "counter",
           "Write transactions that failed (nothing written).", m->write_failures);
    put(&o, "# HELP gifnet_http_requests_total HTTP requests answered, by status code.\n"
            "# TYPE gifnet_http_requests_total counter\n");
    for (int i = 0; i < METRICS_CODES && m->http_codes[i]; i++)
        put(&o, "gifnet_http_requests_total{code=\"%d\"} %llu\n", m->http_codes[i],
            (unsigned long long)m->http_count[i]);
    histogram(&o, "gifnet_http_request_duration_seconds", "Time from request to answer.", bounds,
              m->lat_buckets, METRICS_BUCKETS, m->lat_sum, m->lat_count);
    scalar(&o, "gifnet_pdq_index_size", "gauge", "PDQ hashes in the similarity index.",
           g->pdq_index);
    scalar(&o, "gifnet_held_records", "gauge", "Records held aside past a gap.", g->held);
    scalar(&o, "gifnet_frozen_origins", "gauge", "Origins frozen after an equivocation.",
           g->frozen);
    scalar(&o, "gifnet_events_clients", "gauge", "Open /v1/events streams.", g->events_clients);
    scalar(&o, "gifnet_peers_ready", "gauge", "Peer links ready.", g->peers_ready);
    scalar(&o, "gifnet_peer_records_received_total", "counter", "Records received from peers.",
           m->net_received);
    scalar(&o, "gifnet_peer_duplicates_total", "counter",
           "Records received that were already stored.", m->net_duplicates);
    scalar(&o, "gifnet_peer_records_pushed_total", "counter", "Records pushed to peers.",
           m->net_pushed);
    scalar(&o, "gifnet_peer_push_dropped_total", "counter",
           "Pushes skipped: the peer's queue was full.", m->net_push_dropped);
    scalar(&o, "gifnet_peer_penalties_total", "counter",
           "Peers refused for a while after a protocol violation.", m->net_penalties);
    scalar(&o, "gifnet_peer_cut_through_total", "counter",
           "Pushed records forwarded on receipt, before they were durable here.",
           m->net_cut_through);
    scalar(&o, "gifnet_plumtree_prunes_total", "counter",
           "Links made lazy (a push brought only duplicates).", m->net_prunes);
    scalar(&o, "gifnet_plumtree_grafts_total", "counter",
           "GRAFT requests sent (announced records that did not arrive by push).", m->net_grafts);
    put(&o,
        "# HELP gifnet_plumtree_graft_timeout_seconds How long an announced record may take to "
        "arrive by push before it is grafted (adapted to the lag seen).\n"
        "# TYPE gifnet_plumtree_graft_timeout_seconds gauge\n"
        "gifnet_plumtree_graft_timeout_seconds %.3f\n",
        (double)m->net_graft_timeout_ms / 1000.0);
    scalar(&o, "gifnet_antientropy_pulls_total", "counter", "WANT requests sent to peers.",
           m->net_pulls);
    /* Per peer link (ready links only; a link's counters start when it does). */
    static const struct {
        const char *name, *help;
        size_t off;
    } per[] = {
        {"gifnet_link_records_received_total", "Records received on this link.",
         offsetof(struct metrics_peer, received)},
        {"gifnet_link_records_accepted_total", "Records from this link that were new here.",
         offsetof(struct metrics_peer, accepted)},
        {"gifnet_link_duplicates_total", "Records from this link that were already here.",
         offsetof(struct metrics_peer, duplicates)},
        {"gifnet_link_records_sent_total", "Records sent on this link.",
         offsetof(struct metrics_peer, sent)},
    };
    for (size_t k = 0; k < sizeof per / sizeof per[0]; k++) {
        put(&o, "# HELP %s %s\n# TYPE %s counter\n", per[k].name, per[k].help, per[k].name);
        for (size_t i = 0; i < g->npeers; i++) {
            const struct metrics_peer *p = &g->peers[i];
            uint64_t v;
            memcpy(&v, (const char *)p + per[k].off, sizeof v);
            put(&o, "%s{peer=\"%s\",org=\"", per[k].name, p->key);
            label(&o, p->org);
            put(&o, "\"} %llu\n", (unsigned long long)v);
        }
    }
    put(&o, "# HELP gifnet_link_rtt_seconds Last measured round-trip time (PING) of this link.\n"
            "# TYPE gifnet_link_rtt_seconds gauge\n");
    for (size_t i = 0; i < g->npeers; i++) {
        if (g->peers[i].rtt_ms <= 0) continue;
        put(&o, "gifnet_link_rtt_seconds{peer=\"%s\",org=\"", g->peers[i].key);
        label(&o, g->peers[i].org);
        put(&o, "\"} %.6f\n", g->peers[i].rtt_ms / 1000.0);
    }
    histogram(&o, "gifnet_propagation_delay_seconds",
              "Origin's publish time to local acceptance, records of other origins.", prop_bounds,
              m->prop_buckets, METRICS_PROP_BUCKETS, m->prop_sum, m->prop_count);
    static const struct {
        const char *name, *help;
        size_t off;
    } wh[] = {
        {"gifnet_webhook_delivered_total", "Webhook deliveries answered 2xx, by event.",
         offsetof(struct metrics, wh_delivered)},
        {"gifnet_webhook_attempts_total", "Webhook delivery attempts, by event.",
         offsetof(struct metrics, wh_attempts)},
        {"gifnet_webhook_failures_total",
         "Webhook attempts that failed (not 2xx, timeout, connection error), by event.",
         offsetof(struct metrics, wh_failures)},
    };
    for (size_t k = 0; k < sizeof wh / sizeof wh[0]; k++) {
        const uint64_t *v = (const uint64_t *)((const char *)m + wh[k].off);
        put(&o, "# HELP %s %s\n# TYPE %s counter\n", wh[k].name, wh[k].help, wh[k].name);
        for (unsigned e = 0; e < METRICS_WH_EVENTS; e++)
            put(&o, "%s{event=\"%s\"} %llu\n", wh[k].name, webhook_event_name(e),
                (unsigned long long)v[e]);
    }
    put(&o, "# HELP gifnet_webhook_dead_letters_total Webhook deliveries given up, by event and "
            "reason (attempts, overflow, stopped).\n"
            "# TYPE gifnet_webhook_dead_letters_total counter\n");
    for (unsigned e = 0; e < METRICS_WH_EVENTS; e++)
        for (unsigned r = 0; r < METRICS_WH_REASONS; r++)
            put(&o, "gifnet_webhook_dead_letters_total{event=\"%s\",reason=\"%s\"} %llu\n",
                webhook_event_name(e), webhook_dead_name(r), (unsigned long long)m->wh_dead[e][r]);
    scalar(&o, "gifnet_webhook_queue", "gauge",
           "Webhook deliveries waiting (the one in flight included).", m->wh_queue);
    if (o.oom) {
        free(o.buf);
        return NULL;
    }
    return o.buf;
}
