/*
 * Fills a node's own store with N signed pdq signals of the node's own key, quickly, for
 * bench/bench_startup.sh (gifd's start-up at 10M hashes; figures in docs/performance.md).
 *
 * The store is the node's: <data_dir>/db of the gifd.ini given, opened with its consortium
 * root key and the store options node_start uses. The members file of the config is ingested
 * first (as gifd does at start; already known records are duplicates), so the node's key is a
 * member. The records continue the node's own log from its stored head: one chain, so each
 * record's prev is the id of the one before and signing is sequential. One thread signs
 * (Ed25519 + SHA-256 of the record for the next prev) while another writes the batch signed
 * before it: store_ingest in transactions of 50,000, each record marked verified with its id,
 * so the store neither verifies nor hashes it again. On two cores that is both cores busy.
 *
 * Values: random 256-bit pdq hashes (no quality rule applies to a pdq signal record).
 *
 * usage: bench_fill <gifd.ini> N     (gifd must not be running on that data dir)
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/config.h"
#include "protocol/keyfile.h"
#include "storage/store.h"
#include "util/gif.h"

#define BATCH 50000

struct batch {
    struct store_in in[BATCH];
    struct store_result res[BATCH];
    size_t n;
    uint8_t *bufs[BATCH];
};

struct writer {
    struct store *s;
    struct batch *b;
    int rc;          /* store_ingest's code */
    size_t rejected; /* records not accepted */
    int first_status;
};

static double now_s(void)
{
    return (double)gif_mono_ns() / 1e9;
}

static void *write_thread(void *arg)
{
    struct writer *w = arg;
    struct batch *b = w->b;
    w->rc = store_ingest(w->s, b->in, b->n, gif_now_ms(), b->res);
    w->rejected = 0;
    for (size_t i = 0; i < b->n && w->rc == 0; i++)
        if (b->res[i].status != 0 && w->rejected++ == 0) w->first_status = b->res[i].status;
    for (size_t i = 0; i < b->n; i++) {
        free(b->bufs[i]);
        b->bufs[i] = NULL;
    }
    return NULL;
}

/* The members file (JSON Lines, "record" hex), as node.c's load_members reads it. */
static int ingest_members(struct store *s, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_fill: %s: cannot open the members file\n", path);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    size_t added = 0;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        const char *hex = j ? json_string_value(json_object_get(j, "record")) : NULL;
        size_t hl = hex ? strlen(hex) : 0;
        uint8_t *buf = hl && hl % 2 == 0 && hl / 2 <= PROTO_RECORD_MAX ? malloc(hl / 2) : NULL;
        if (!buf || gif_unhex(buf, hl / 2, hex, hl) != 0) {
            fprintf(stderr, "bench_fill: %s: a line is not a JSON object with a hex record\n",
                    path);
            rc = 1;
        } else {
            struct store_in in = {.buf = buf, .len = hl / 2};
            struct store_result res;
            if (store_ingest(s, &in, 1, gif_now_ms(), &res) != 0) {
                fprintf(stderr, "bench_fill: storage error ingesting %s\n", path);
                rc = 1;
            } else if (res.status == 0) {
                added++;
            }
        }
        free(buf);
        json_decref(j);
    }
    free(line);
    fclose(f);
    if (rc == 0) printf("bench_fill: members file %s: %zu new\n", path, added);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_fill <gifd.ini> N\n");
        return 2;
    }
    char *end;
    unsigned long long nn = strtoull(argv[2], &end, 10);
    if (*end || nn == 0) {
        fprintf(stderr, "bench_fill: N must be a positive number\n");
        return 2;
    }
    size_t n = (size_t)nn;
    if (sodium_init() < 0) return 1;
    gif_log_set_level(GIF_LOG_WARN);

    struct node_config *cfg = malloc(sizeof *cfg);
    uint8_t *sk = sodium_malloc(PROTO_SK_LEN);
    struct batch *bat[2] = {malloc(sizeof(struct batch)), malloc(sizeof(struct batch))};
    if (!cfg || !sk || !bat[0] || !bat[1]) return 1;
    memset(bat[0], 0, sizeof *bat[0]);
    memset(bat[1], 0, sizeof *bat[1]);
    char err[512], path[CONFIG_PATH_MAX + 32];
    if (config_load(cfg, argv[1], err, sizeof err) != 0) {
        fprintf(stderr, "bench_fill: %s\n", err);
        return 1;
    }
    snprintf(path, sizeof path, "%s/node.key", cfg->data_dir);
    if (proto_keyfile_read_sk(path, sk, err, sizeof err) != 0) {
        fprintf(stderr, "bench_fill: %s\n", err);
        return 1;
    }
    uint8_t pk[PROTO_KEY_LEN];
    memcpy(pk, sk + 32, PROTO_KEY_LEN);

    /* The same options as node_start. */
    struct store_opts so = {.map_size = cfg->map_size, .no_sync = !cfg->sync};
    memcpy(so.root, cfg->root_key, PROTO_KEY_LEN);
    snprintf(path, sizeof path, "%s/db", cfg->data_dir);
    struct store *s;
    if (store_open(&s, path, &so, err, sizeof err) != 0) {
        fprintf(stderr, "bench_fill: %s\n", err);
        return 1;
    }
    if (ingest_members(s, cfg->members_file)) return 1;

    struct store_rd *rd;
    struct store_member me;
    struct store_head h;
    if (store_rd_open(s, &rd) != 0) return 1;
    bool member = store_member_get(rd, pk, &me) == 0;
    int hrc = store_head_get(rd, pk, &h);
    store_rd_close(rd);
    if (!member) {
        fprintf(stderr, "bench_fill: the node's key is not a member (members file %s)\n",
                cfg->members_file);
        return 1;
    }
    uint64_t seq = 0;
    uint8_t prev[PROTO_ID_LEN] = {0};
    if (hrc == 0) {
        seq = h.seq;
        memcpy(prev, h.id, PROTO_ID_LEN);
    } else if (hrc != -ENOENT) {
        fprintf(stderr, "bench_fill: reading the node's head: %s\n", gif_strerror(hrc));
        return 1;
    }

    double t0 = now_s(), sign_s = 0;
    struct writer w = {.s = s};
    pthread_t th;
    bool running = false;
    size_t done = 0, rejected = 0;
    int wrc = 0;
    for (unsigned k = 0; done < n; k ^= 1) {
        struct batch *b = bat[k];
        b->n = n - done < BATCH ? n - done : BATCH;
        uint64_t tms = gif_now_ms();
        double a = now_s();
        for (size_t i = 0; i < b->n; i++) {
            uint8_t hash[32];
            randombytes_buf(hash, sizeof hash);
            struct proto_record d;
            memset(&d, 0, sizeof d);
            d.kind = PROTO_SIGNAL;
            memcpy(d.origin, pk, PROTO_KEY_LEN);
            d.seq = ++seq;
            memcpy(d.prev, prev, PROTO_ID_LEN);
            d.time_ms = tms;
            d.u.signal.stype = PROTO_ST_PDQ;
            d.u.signal.value = (struct proto_bytes){hash, 32};
            d.u.signal.content = PROTO_CT_IMAGE;
            d.u.signal.confidence = 90;
            size_t len;
            if (proto_sign(&d, sk, &b->bufs[i], &len) != 0) {
                fprintf(stderr, "bench_fill: proto_sign failed\n");
                return 1;
            }
            b->in[i] = (struct store_in){.buf = b->bufs[i], .len = len, .verified = 1};
            proto_record_id(b->in[i].id, b->bufs[i], len);
            memcpy(prev, b->in[i].id, PROTO_ID_LEN);
        }
        sign_s += now_s() - a;
        /* The batch before this one is written by now (or being written): wait for it. */
        if (running) {
            pthread_join(th, NULL);
            running = false;
            if ((wrc = w.rc) != 0) break;
            rejected += w.rejected;
        }
        if (rejected) break;
        w.b = b;
        if (pthread_create(&th, NULL, write_thread, &w) != 0) return 1;
        running = true;
        done += b->n;
        if (done % 1000000 < BATCH || done == n) {
            printf("bench_fill: %zu signed, %.0f s\n", done, now_s() - t0);
            fflush(stdout);
        }
    }
    if (running) {
        pthread_join(th, NULL);
        if (!wrc) wrc = w.rc;
        rejected += w.rejected;
    }
    double total = now_s() - t0;
    if (wrc) {
        fprintf(stderr, "bench_fill: store_ingest: %s\n", gif_strerror(wrc));
        return 1;
    }
    if (rejected) {
        fprintf(stderr, "bench_fill: %zu records refused (first: %s)\n", rejected,
                gif_strerror(w.first_status));
        return 1;
    }
    struct store_stats st;
    if (store_rd_open(s, &rd) != 0 || store_stats_get(rd, &st) != 0) return 1;
    store_rd_close(rd);
    store_close(s);
    printf("bench_fill: %zu pdq signals in %.1f s (%.0f/s; signing %.1f s on one thread, "
           "writing alongside in transactions of %d): the store holds %llu records, %llu pdq\n",
           n, total, (double)n / total, sign_s, BATCH, (unsigned long long)st.records,
           (unsigned long long)st.by_stype[PROTO_ST_PDQ]);
    sodium_free(sk);
    free(cfg);
    free(bat[0]);
    free(bat[1]);
    return 0;
}
