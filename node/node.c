/* gifd start-up, the feed applier (index, metrics, events) and an orderly shutdown. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/net.h"
#include "node/node.h"
#include "node/webhook.h"
#include "protocol/keyfile.h"
#include "util/gif.h"

#define KEEPALIVE_MS 15000

static int memcmp32(const void *a, const void *b)
{
    return memcmp(a, b, PROTO_ID_LEN);
}

static int apply_cb(void *ctx, const uint8_t id[PROTO_ID_LEN], const struct store_rec *sr)
{
    struct node *n = ctx;
    struct proto_record r;
    n->feed_seen = sr->feed;
    if (proto_decode_known(&r, sr->buf, sr->len, id) != 0) return 0;
    n->metrics.records_by_kind[r.kind]++;
    if (memcmp(r.origin, n->pk, PROTO_KEY_LEN) != 0 && r.kind != PROTO_MEMBERSHIP &&
        r.kind != PROTO_REVOCATION)
        metrics_propagation(&n->metrics, (int64_t)sr->accepted_ms - (int64_t)r.time_ms);
    if (r.kind == PROTO_SIGNAL || r.kind == PROTO_ALERT) {
        node_index_add(n, &r, id);
    } else if (r.kind == PROTO_RETRACTION) {
        node_index_retract(n, r.u.retraction.target);
    } else if (r.kind == PROTO_REVOCATION) {
        net_revoked(n, r.u.revocation.key);
    } else if (r.kind == PROTO_MEMBERSHIP) {
        net_learn_addresses(n);
    }
    const struct src_entry *src =
        n->nsrc ? bsearch(id, n->src, n->nsrc, sizeof *n->src, memcmp32) : NULL;
    /* Pulled records are not pushed on: the peers hear of them from the version vector sent
     * after the batch (net.c), and pull them from us, each from one peer. */
    if (!net_forwarded(n, &r) && !(src && src->pulled))
        net_push(n, &r, sr->buf, sr->len, src ? src->peer : NULL,
                 r.kind == PROTO_ALERT || r.kind == PROTO_INCIDENT || r.kind == PROTO_REVOCATION);
    api_broadcast(n, sr->feed, sr->buf, sr->len, sr->accepted_ms);
    webhook_record(n, &r, sr);
    return 0;
}

void node_apply_feed(struct node *n)
{
    struct store_rd *rd;
    if (store_rd_open(n->store, &rd) != 0) return;
    store_feed_each(rd, n->feed_seen, apply_cb, n);
    store_rd_close(rd);
}

/* vpdq signals have no exact index to walk (store.c indexes only fixed-size values), so the
 * start-up build reads the feed, and only when the store counts any vpdq signal. */
static int vpdq_load_cb(void *ctx, const uint8_t id[PROTO_ID_LEN], const struct store_rec *sr)
{
    struct node *n = ctx;
    struct proto_record r;
    if (proto_decode_known(&r, sr->buf, sr->len, id) != 0) return 0;
    if (node_vpdq_value(&r)) return node_vpdq_index(n, &r);
    if (r.kind == PROTO_RETRACTION) store_pdq_remove(n->vpdq, r.u.retraction.target);
    return 0;
}

static int pdq_load_cb(void *ctx, const uint8_t hash[32], const uint8_t id[PROTO_ID_LEN])
{
    return store_pdq_add(ctx, hash, id);
}

/* Reads a JSON Lines file of exported records ("record" hex) and ingests them: the
 * consortium's membership log, so a new node knows its members before any peer talks. */
static int load_members(struct node *n, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) {
            GIF_WARN("node",
                     "no members file at %s: only records ingested later will define "
                     "the consortium's members",
                     path);
            return 0;
        }
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    size_t accepted = 0, dup = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        const char *hex = j ? json_string_value(json_object_get(j, "record")) : NULL;
        size_t hl = hex ? strlen(hex) : 0;
        uint8_t *buf = hl && hl % 2 == 0 && hl / 2 <= PROTO_RECORD_MAX ? malloc(hl / 2) : NULL;
        if (!buf || gif_unhex(buf, hl / 2, hex, hl) != 0) {
            snprintf(err, errlen, "%s:%d: not a JSON object with a hex \"record\"", path, lineno);
            free(buf);
            json_decref(j);
            rc = GIF_E_INVALID;
            break;
        }
        struct store_in in = {.buf = buf, .len = hl / 2};
        struct store_result res;
        rc = store_ingest(n->store, &in, 1, gif_now_ms(), &res);
        free(buf);
        json_decref(j);
        if (rc) {
            snprintf(err, errlen, "%s:%d: storage error: %s", path, lineno, gif_strerror(rc));
            break;
        }
        if (res.status == 0)
            accepted++;
        else if (res.status == GIF_E_DUPLICATE)
            dup++;
        else
            GIF_WARN("node", "%s:%d: record refused: %s", path, lineno, gif_strerror(res.status));
    }
    free(line);
    fclose(f);
    if (rc == 0)
        GIF_INFO("node", "members file %s: %zu new, %zu already known", path, accepted, dup);
    return rc;
}

static void keepalive_cb(uv_timer_t *t)
{
    api_keepalive(t->data);
    api_tally_save(t->data);
}

static void signal_cb(uv_signal_t *s, int signum)
{
    struct node *n = s->data;
    GIF_INFO("node", "signal %d: stopping", signum);
    node_stop(n);
}

int node_start(struct node *n, uv_loop_t *loop, const char *config_path, char *err, size_t errlen)
{
    memset(n, 0, sizeof *n);
    n->loop = loop;
    n->started_ms = gif_now_ms();
    int rc = config_load(&n->cfg, config_path, err, errlen);
    if (rc) return rc;
    gif_log_set_level((enum gif_log_level)n->cfg.log_level);

    char path[CONFIG_PATH_MAX + 32];
    n->sk = sodium_malloc(PROTO_SK_LEN);
    if (!n->sk) return -ENOMEM;
    snprintf(path, sizeof path, "%s/node.key", n->cfg.data_dir);
    rc = proto_keyfile_read_sk(path, n->sk, err, errlen);
    if (rc) return rc;
    sodium_mprotect_readonly(n->sk);
    memcpy(n->pk, n->sk + 32, PROTO_KEY_LEN);

    struct store_opts so = {.map_size = n->cfg.map_size, .no_sync = !n->cfg.sync};
    memcpy(so.root, n->cfg.root_key, PROTO_KEY_LEN);
    snprintf(path, sizeof path, "%s/db", n->cfg.data_dir);
    rc = store_open(&n->store, path, &so, err, errlen);
    if (rc) return rc;
    rc = load_members(n, n->cfg.members_file, err, errlen);
    if (rc) return rc;

    /* The similarity index is memory only: rebuild it from the store. n->pdq keeps hashes only
     * (hits are resolved to records through the store's exact index: docs/matching.md);
     * n->vpdq keeps each frame's record id. */
    rc = store_pdq_new_idlen(&n->pdq, 0);
    if (rc == 0) rc = store_pdq_new(&n->vpdq);
    if (rc) return rc;
    struct store_rd *rd;
    rc = store_rd_open(n->store, &rd);
    if (rc) return rc;
    uint64_t t0 = gif_mono_ns();
    /* One bulk build instead of one per doubling (docs/matching.md): size the index for every
     * pdq signal ever accepted (retracted ones included, so at most a few too many), load,
     * then flush, which builds the tables whatever the count reached. */
    struct store_stats st;
    rc = store_stats_get(rd, &st);
    if (rc == 0 && st.by_stype[PROTO_ST_PDQ] > 0)
        rc = store_pdq_reserve(n->pdq, (size_t)st.by_stype[PROTO_ST_PDQ]);
    if (rc == 0) rc = store_pdq_each(rd, pdq_load_cb, n->pdq);
    if (rc == 0) rc = store_pdq_flush(n->pdq);
    if (rc == 0 && (st.by_stype[PROTO_ST_VPDQ] > 0 || st.by_kind[PROTO_ALERT] > 0))
        rc = store_feed_each(rd, 0, vpdq_load_cb, n);
    if (rc == 0) rc = store_feed_last(rd, &n->feed_seen);
    if (rc == 0) rc = api_tally_load(n, rd);
    struct store_member me;
    bool member = store_member_get(rd, n->pk, &me) == 0;
    store_rd_close(rd);
    if (rc) {
        snprintf(err, errlen, "reading the store: %s", gif_strerror(rc));
        return rc;
    }
    char pkhex[65];
    gif_hex(pkhex, n->pk, 32);
    if (member)
        GIF_INFO("node", "node %s is %s (%s)", pkhex, me.org, proto_role_name(me.role));
    else
        GIF_WARN("node", "node key %s is not a member of this consortium: it cannot publish",
                 pkhex);
    node_index_running(n);
    GIF_INFO("index", "%zu pdq hashes and %zu vpdq frames loaded in %.1f ms",
             store_pdq_count(n->pdq), store_pdq_count(n->vpdq), (double)(gif_mono_ns() - t0) / 1e6);

    struct http_server_opts ho = {
        .host = n->cfg.api_host,
        .port = n->cfg.api_port,
        .limits = {.max_header = HTTP_HEADER_MAX, .max_body = n->cfg.max_body}};
    rc = http_server_start(&n->http, loop, &ho, api_handle, n, err, errlen);
    if (rc) return rc;
    GIF_INFO("api", "listening on http://%s:%d", n->cfg.api_host, http_server_port(n->http));

    uv_timer_init(loop, &n->keepalive);
    n->keepalive.data = n;
    uv_timer_start(&n->keepalive, keepalive_cb, KEEPALIVE_MS, KEEPALIVE_MS);
    uv_signal_init(loop, &n->sigint);
    uv_signal_init(loop, &n->sigterm);
    n->sigint.data = n->sigterm.data = n;
    uv_signal_start(&n->sigint, signal_cb, SIGINT);
    uv_signal_start(&n->sigterm, signal_cb, SIGTERM);
    rc = webhook_start(n, err, errlen);
    if (rc) return rc;
    /* Last, so that a failure here finds every handle above open and node_stop closes them. */
    return net_start(n, err, errlen);
}

static void http_stopped(void *arg)
{
    struct node *n = arg;
    n->http = NULL;
    uv_close((uv_handle_t *)&n->keepalive, NULL);
    uv_close((uv_handle_t *)&n->sigint, NULL);
    uv_close((uv_handle_t *)&n->sigterm, NULL);
}

void node_stop(struct node *n)
{
    if (n->stopping) return;
    api_tally_save(n); /* queued before stopping, so it is written before the loop ends */
    n->stopping = true;
    net_stop(n);
    webhook_stop(n);
    /* Writes already queued still complete (their answers are discarded if the client left);
     * the loop ends once the write in flight and every handle are done. */
    if (n->http)
        http_server_stop(n->http, http_stopped, n);
    else
        http_stopped(n);
}

void node_free(struct node *n)
{
    net_free(n);
    webhook_free(n);
    if (n->store) store_close(n->store);
    if (n->pdq) store_pdq_free(n->pdq);
    if (n->vpdq) store_pdq_free(n->vpdq);
    free(n->pdq_pending);
    free(n->tally);
    if (n->sk) sodium_free(n->sk);
    n->store = NULL;
    n->pdq = NULL;
    n->vpdq = NULL;
    n->pdq_pending = NULL;
    n->pdq_npending = n->pdq_cappending = 0;
    n->sk = NULL;
}
