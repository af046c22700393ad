/*
 * The webhook's pure parts: the signature (against HMAC-SHA256 values computed once with
 * `openssl dgst -sha256 -hmac`), the backoff schedule and its jitter bounds, the queue's
 * priority and overflow, URL and event-list parsing, the [webhook] config section (https and
 * ca_file included), and what decides that a signal turned blocking later: the set of signals
 * already queued, the table of incident states, the verdict before and after a change, and the
 * queue of incidents whose signals wait to be re-decided.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "node/config.h"
#include "node/policy.h"
#include "node/webhook.h"
#include "util/gif.h"

static void test_sign(void **state)
{
    (void)state;
    char hex[65];
    /* printf '1700000000.{"event":"alert","delivery":"x"}' |
     *     openssl dgst -sha256 -hmac 'whsec-0123456789abcdef' */
    const char *body = "{\"event\":\"alert\",\"delivery\":\"x\"}";
    webhook_sign("whsec-0123456789abcdef", 1700000000, body, strlen(body), hex);
    assert_string_equal(hex, "10069d4c5c66ddca5ea01ac8d2353c9f2318ca96b2d91de9847d9de9a59655f8");
    /* A key longer than SHA-256's 64-byte block (hashed first, as HMAC says), an empty body:
     * printf '1.' | openssl dgst -sha256 -hmac '<the key>' */
    webhook_sign("a-secret-of-16-chars-or-more-and-longer-than-a-sha256-block-of-64-bytes-"
                 "xxxxxxxxxxxxxxx",
                 1, "", 0, hex);
    assert_string_equal(hex, "05f9f022027032773718089e8bfbc99a7fb0308f1b28bb454ef16131adfd5721");
    /* The timestamp is signed: another one gives another signature. */
    char other[65];
    webhook_sign("whsec-0123456789abcdef", 1700000001, body, strlen(body), other);
    assert_string_not_equal(hex, other);
}

static void test_backoff(void **state)
{
    (void)state;
    /* r = half of the jitter range: the nominal schedule exactly. */
    static const uint64_t nominal[] = {1000,  2000,   4000,   8000,   16000, 32000,
                                       64000, 128000, 256000, 300000, 300000};
    for (uint32_t a = 1; a <= GIF_ARRAY_LEN(nominal); a++) {
        uint64_t base = nominal[a - 1];
        uint32_t mid = (uint32_t)(base / 4);
        uint64_t d = webhook_backoff_ms(a, mid);
        if (base < WEBHOOK_BACKOFF_MAX_MS)
            assert_int_equal(d, base);
        else
            assert_int_equal(d, WEBHOOK_BACKOFF_MAX_MS);
        /* Every r stays within [0.75, 1.25] x base, and under the cap. */
        for (uint32_t r = 0; r < 2000; r += 37) {
            uint32_t x = r * 2654435761u;
            d = webhook_backoff_ms(a, x);
            assert_true(d >= base - base / 4);
            assert_true(d <= base + base / 4);
            assert_true(d <= WEBHOOK_BACKOFF_MAX_MS);
        }
        assert_int_equal(webhook_backoff_ms(a, 0), base - base / 4);
    }
    /* Large attempt numbers do not overflow. */
    assert_true(webhook_backoff_ms(UINT32_MAX, UINT32_MAX) <= WEBHOOK_BACKOFF_MAX_MS);
    assert_int_equal(webhook_backoff_ms(0, 250), 1000); /* 0 counts as the first */
}

static struct webhook_item *item(unsigned ev, int tag)
{
    struct webhook_item *it = calloc(1, sizeof *it);
    it->event = ev;
    it->attempts = (uint32_t)tag;
    return it;
}

static void test_queue(void **state)
{
    (void)state;
    struct webhook_queue q = {.max = 4};
    assert_null(webhook_queue_peek(&q));
    struct webhook_item *s1 = item(WEBHOOK_BLOCKING_SIGNAL, 1),
                        *s2 = item(WEBHOOK_BLOCKING_SIGNAL, 2);
    struct webhook_item *a1 = item(WEBHOOK_ALERT, 3), *i1 = item(WEBHOOK_INCIDENT, 4);
    assert_null(webhook_queue_push(&q, s1, NULL));
    assert_null(webhook_queue_push(&q, s2, NULL));
    assert_ptr_equal(webhook_queue_peek(&q), s1);
    /* Alerts and incident records go ahead of signals, in their own order. */
    assert_null(webhook_queue_push(&q, a1, NULL));
    assert_ptr_equal(webhook_queue_peek(&q), a1);
    assert_null(webhook_queue_push(&q, i1, NULL));
    assert_int_equal(q.len, 4);
    /* Full: a signal is refused... */
    struct webhook_item *s3 = item(WEBHOOK_BLOCKING_SIGNAL, 5);
    assert_ptr_equal(webhook_queue_push(&q, s3, NULL), s3);
    free(s3);
    /* ...an alert displaces the newest signal... */
    struct webhook_item *a2 = item(WEBHOOK_ALERT, 6);
    assert_ptr_equal(webhook_queue_push(&q, a2, NULL), s2);
    free(s2);
    assert_int_equal(q.len, 4);
    /* ...then the last one... */
    struct webhook_item *a3 = item(WEBHOOK_ALERT, 7);
    assert_ptr_equal(webhook_queue_push(&q, a3, NULL), s1);
    free(s1);
    /* ...and with no signal left, an alert is refused itself. */
    struct webhook_item *a4 = item(WEBHOOK_ALERT, 8);
    assert_ptr_equal(webhook_queue_push(&q, a4, NULL), a4);
    free(a4);
    /* Order out: a1, i1, a2, a3. */
    struct webhook_item *want[] = {a1, i1, a2, a3};
    for (size_t k = 0; k < 4; k++) {
        struct webhook_item *it = webhook_queue_peek(&q);
        assert_ptr_equal(it, want[k]);
        webhook_queue_remove(&q, it);
        free(it);
    }
    assert_int_equal(q.len, 0);
    assert_null(webhook_queue_peek(&q));

    /* The signal in flight is never displaced, even when it is the only one. */
    struct webhook_queue b = {.max = 2};
    struct webhook_item *bs = item(WEBHOOK_BLOCKING_SIGNAL, 1), *ba = item(WEBHOOK_ALERT, 2);
    struct webhook_item *bb = item(WEBHOOK_ALERT, 3);
    assert_null(webhook_queue_push(&b, bs, NULL));
    assert_null(webhook_queue_push(&b, ba, bs));
    assert_ptr_equal(webhook_queue_push(&b, bb, bs), bb);
    /* Not in flight (waiting out a backoff, say): it makes room. */
    assert_ptr_equal(webhook_queue_push(&b, bb, NULL), bs);
    free(bs);
    webhook_queue_remove(&b, ba);
    webhook_queue_remove(&b, bb);
    assert_int_equal(b.len, 0);
    free(ba);
    free(bb);

    /* Removal from the middle of a lane keeps both ends right. */
    struct webhook_queue r = {.max = 10};
    struct webhook_item *x[3];
    for (int k = 0; k < 3; k++) {
        x[k] = item(WEBHOOK_BLOCKING_SIGNAL, k);
        assert_null(webhook_queue_push(&r, x[k], NULL));
    }
    webhook_queue_remove(&r, x[1]);
    assert_ptr_equal(r.head[1], x[0]);
    assert_ptr_equal(r.tail[1], x[2]);
    assert_ptr_equal(x[0]->next, x[2]);
    assert_ptr_equal(x[2]->prev, x[0]);
    webhook_queue_remove(&r, x[2]);
    assert_ptr_equal(r.tail[1], x[0]);
    webhook_queue_remove(&r, x[0]);
    assert_null(r.head[1]);
    assert_null(r.tail[1]);
    for (int k = 0; k < 3; k++)
        free(x[k]);
}

static void url_ok(const char *url, const char *host, int port, const char *path)
{
    struct webhook_config c;
    memset(&c, 0, sizeof c);
    c.tls = strncmp(url, "http:", 5) == 0; /* the opposite of what it should become */
    char why[200];
    if (webhook_url_parse(url, &c, why, sizeof why) != 0) fail_msg("'%s' refused: %s", url, why);
    assert_string_equal(c.host, host);
    assert_int_equal(c.port, port);
    assert_string_equal(c.path, path);
    assert_string_equal(c.url, url);
    assert_int_equal(c.tls, strncasecmp(url, "https:", 6) == 0);
}

static void url_bad(const char *url, const char *why_has)
{
    struct webhook_config c;
    memset(&c, 0, sizeof c);
    char why[200] = "";
    if (webhook_url_parse(url, &c, why, sizeof why) == 0) fail_msg("'%s' accepted", url);
    if (!strstr(why, why_has)) fail_msg("'%s': '%s' does not say '%s'", url, why, why_has);
}

static void test_url(void **state)
{
    (void)state;
    url_ok("http://127.0.0.1:9000/hook", "127.0.0.1", 9000, "/hook");
    url_ok("http://hooks.example.org/gifnet/in?x=1", "hooks.example.org", 80, "/gifnet/in?x=1");
    url_ok("HTTP://siem-1:8080", "siem-1", 8080, "/");
    url_ok("http://siem?k=v", "siem", 80, "/?k=v");
    url_ok("http://[::1]:7000/h", "::1", 7000, "/h");
    url_ok("http://[2001:db8::5]/", "2001:db8::5", 80, "/");
    /* https: port 443 unless given. */
    url_ok("https://siem.example/hook", "siem.example", 443, "/hook");
    url_ok("HTTPS://127.0.0.1:8443", "127.0.0.1", 8443, "/");
    url_ok("https://[::1]/in?x=y", "::1", 443, "/in?x=y");
    url_bad("https://", "no host");
    url_bad("https://h:99999/", "not 1 to 65535");
    url_bad("ftp://x/y", "not an http:// or https:// URL");
    url_bad("httpss://x/y", "not an http:// or https:// URL");
    url_bad("siem:80/x", "not an http:// or https:// URL");
    url_bad("http:///x", "no host");
    url_bad("http://:80/x", "no host");
    url_bad("http://h:0/", "not 1 to 65535");
    url_bad("http://h:65536/", "not 1 to 65535");
    url_bad("http://h:/", "not 1 to 65535");
    url_bad("http://h:8o/", "not 1 to 65535");
    url_bad("http://user:pw@h/", "user information");
    url_bad("http://h/a b", "space");
    url_bad("http://h/a#frag", "fragment");
    url_bad("http://[::1/x", "closing");
    url_bad("http://[zz::1]/", "not an IPv6 address");
    url_bad("http://[::1]x/", "after ']'");
    url_bad("http://ho$t/", "not a name or an address");
    char longurl[300];
    memset(longurl, 'a', sizeof longurl - 1);
    longurl[sizeof longurl - 1] = '\0';
    memcpy(longurl, "http://h/", 9);
    url_bad(longurl, "longer than");
}

static void test_events(void **state)
{
    (void)state;
    unsigned ev = 0;
    char why[200];
    assert_int_equal(webhook_events_parse("alerts", &ev, why, sizeof why), 0);
    assert_int_equal(ev, 1u << WEBHOOK_ALERT);
    assert_int_equal(webhook_events_parse(" blocking_signals ,incidents", &ev, why, sizeof why), 0);
    assert_int_equal(ev, 1u << WEBHOOK_BLOCKING_SIGNAL | 1u << WEBHOOK_INCIDENT);
    assert_int_equal(
        webhook_events_parse("alerts, blocking_signals, incidents", &ev, why, sizeof why), 0);
    assert_int_equal(ev, WEBHOOK_EVENTS_ALL);
    assert_int_equal(webhook_events_parse("alerts, signals", &ev, why, sizeof why), -1);
    assert_non_null(strstr(why, "'signals' is not an event"));
    assert_int_equal(webhook_events_parse(" , ", &ev, why, sizeof why), -1);
    assert_non_null(strstr(why, "names no event"));
    assert_string_equal(webhook_event_name(WEBHOOK_BLOCKING_SIGNAL), "blocking_signal");
    assert_null(webhook_event_name(WEBHOOK_EVENTS));
    assert_string_equal(webhook_dead_name(WEBHOOK_DEAD_OVERFLOW), "overflow");
}

/* ---- The [webhook] section through config_load. */

#define REQUIRED                                                                                   \
    "[consortium]\nroot_key = 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"  \
    "[api]\ntoken = 0123456789abcdef-token\n"

static int load(const char *text, struct node_config *c, char *err, size_t errlen)
{
    char dir[] = "/tmp/gif_test_webhook_XXXXXX";
    if (!mkdtemp(dir)) fail_msg("mkdtemp");
    char path[64];
    snprintf(path, sizeof path, "%s/gifd.ini", dir);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    int rc = config_load(c, path, err, errlen);
    unlink(path);
    rmdir(dir);
    return rc;
}

static void config_bad(const char *section, const char *has)
{
    char text[1024], err[600];
    snprintf(text, sizeof text, "%s[webhook]\n%s", REQUIRED, section);
    struct node_config *c = malloc(sizeof *c);
    if (load(text, c, err, sizeof err) == 0) fail_msg("accepted: %s", section);
    if (!strstr(err, has)) fail_msg("'%s' does not say '%s'", err, has);
    free(c);
}

static void test_config(void **state)
{
    (void)state;
    struct node_config *c = malloc(sizeof *c);
    char err[600];
    assert_int_equal(load(REQUIRED, c, err, sizeof err), 0);
    assert_false(c->webhook.enabled);
    assert_int_equal(c->webhook.events, WEBHOOK_EVENTS_ALL);
    assert_int_equal(c->webhook.timeout_ms, 5000);
    assert_int_equal(c->webhook.max_attempts, 8);
    assert_int_equal(c->webhook.queue_max, 10000);

    if (load(REQUIRED "[webhook]\nurl = http://127.0.0.1:9000/in\nsecret = 0123456789abcdefXYZ\n"
                      "events = alerts\ntimeout_ms = 250\nmax_attempts = 3\nqueue_max = 7\n",
             c, err, sizeof err))
        fail_msg("%s", err);
    assert_true(c->webhook.enabled);
    assert_string_equal(c->webhook.host, "127.0.0.1");
    assert_int_equal(c->webhook.port, 9000);
    assert_string_equal(c->webhook.path, "/in");
    assert_string_equal(c->webhook.secret, "0123456789abcdefXYZ");
    assert_int_equal(c->webhook.events, 1u << WEBHOOK_ALERT);
    assert_int_equal(c->webhook.timeout_ms, 250);
    assert_int_equal(c->webhook.max_attempts, 3);
    assert_int_equal(c->webhook.queue_max, 7);
    assert_false(c->webhook.tls);
    assert_string_equal(c->webhook.ca_file, "");

    /* https with the system's trust store (no ca_file), then with a CA file: a relative path
     * is taken from the config file's directory, an absolute one as it is. */
    if (load(REQUIRED "[webhook]\nurl = https://hooks.example.org/in\n"
                      "secret = 0123456789abcdefXYZ\n",
             c, err, sizeof err))
        fail_msg("%s", err);
    assert_true(c->webhook.tls);
    assert_int_equal(c->webhook.port, 443);
    assert_string_equal(c->webhook.host, "hooks.example.org");
    assert_string_equal(c->webhook.ca_file, "");
    if (load(REQUIRED "[webhook]\nca_file = tls/receiver-ca.pem\n"
                      "url = https://127.0.0.1:8443/in\nsecret = 0123456789abcdefXYZ\n",
             c, err, sizeof err))
        fail_msg("%s", err);
    assert_true(c->webhook.tls);
    assert_int_equal(c->webhook.port, 8443);
    assert_non_null(strstr(c->webhook.ca_file, "/gif_test_webhook_"));
    const char *tail = "/tls/receiver-ca.pem";
    size_t cl = strlen(c->webhook.ca_file), tl = strlen(tail);
    assert_true(cl > tl);
    assert_string_equal(c->webhook.ca_file + cl - tl, tail);
    if (load(REQUIRED "[webhook]\nurl = https://127.0.0.1/in\nsecret = 0123456789abcdefXYZ\n"
                      "ca_file = /etc/gifd/receiver-ca.pem\n",
             c, err, sizeof err))
        fail_msg("%s", err);
    assert_string_equal(c->webhook.ca_file, "/etc/gifd/receiver-ca.pem");
    /* A second url replaces the first, scheme included. */
    if (load(REQUIRED "[webhook]\nurl = https://a/in\nurl = http://b/in\n"
                      "secret = 0123456789abcdefXYZ\n",
             c, err, sizeof err))
        fail_msg("%s", err);
    assert_false(c->webhook.tls);
    assert_int_equal(c->webhook.port, 80);
    free(c);

    config_bad("url = http://127.0.0.1:9000/in\n", "[webhook] secret: required when url is set");
    config_bad("url = ftp://siem/in\n", "gifd.ini:6: [webhook] url: 'ftp://siem/in': not an http");
    /* ca_file: only with https, never empty. */
    config_bad("url = http://127.0.0.1:9000/in\nsecret = 0123456789abcdefXYZ\nca_file = ca.pem\n",
               "[webhook] ca_file: only used with an https:// url");
    config_bad("ca_file = ca.pem\n", "[webhook] ca_file: only used with an https:// url");
    config_bad("ca_file =\n", "gifd.ini:6: [webhook] ca_file: must not be empty");
    config_bad("secret = short\n", "[webhook] secret: too short (5 characters");
    config_bad("secret = has a space in it here\n", "space");
    config_bad("events = alerts, everything\n", "[webhook] events: 'everything' is not an event");
    config_bad("timeout_ms = 50\n", "[webhook] timeout_ms: '50' is not a number of ms");
    config_bad("max_attempts = 0\n", "[webhook] max_attempts: '0' is not a count from 1 to 100");
    config_bad("queue_max = lots\n", "[webhook] queue_max: 'lots'");
    config_bad("retries = 3\n", "[webhook] retries: unknown key (value '3')");
    /* The secret's text never appears in a message. */
    char err2[600];
    struct node_config *c2 = malloc(sizeof *c2);
    assert_int_not_equal(load(REQUIRED "[webhook]\nsecret = topsecret\n", c2, err2, sizeof err2),
                         0);
    assert_null(strstr(err2, "topsecret"));
    free(c2);
}

/* ---- Signals that turn blocking later. */

static void test_seen(void **state)
{
    (void)state;
    assert_null(webhook_seen_new(0));
    /* One bucket: it holds WEBHOOK_SEEN_WAYS ids, then forgets the oldest for each new one. */
    struct webhook_seen *s = webhook_seen_new(1);
    assert_non_null(s);
    uint8_t ids[WEBHOOK_SEEN_WAYS + 2][PROTO_ID_LEN];
    for (size_t i = 0; i < GIF_ARRAY_LEN(ids); i++)
        randombytes_buf(ids[i], PROTO_ID_LEN);
    for (size_t i = 0; i < WEBHOOK_SEEN_WAYS; i++) {
        assert_false(webhook_seen_has(s, ids[i]));
        webhook_seen_add(s, ids[i]);
        assert_true(webhook_seen_has(s, ids[i]));
    }
    webhook_seen_add(s, ids[3]); /* already there: nothing forgotten */
    assert_int_equal(webhook_seen_count(s), WEBHOOK_SEEN_WAYS);
    for (size_t i = 0; i < WEBHOOK_SEEN_WAYS; i++)
        assert_true(webhook_seen_has(s, ids[i]));
    webhook_seen_add(s, ids[WEBHOOK_SEEN_WAYS]);
    assert_false(webhook_seen_has(s, ids[0]));
    webhook_seen_add(s, ids[WEBHOOK_SEEN_WAYS + 1]);
    assert_false(webhook_seen_has(s, ids[1]));
    for (size_t i = 2; i < GIF_ARRAY_LEN(ids); i++)
        assert_true(webhook_seen_has(s, ids[i]));
    assert_int_equal(webhook_seen_count(s), WEBHOOK_SEEN_WAYS);
    webhook_seen_free(s);

    /* Spread out: 1,000 ids in 4,096 buckets are all kept (a bucket overflowing is about one
     * chance in 10^11), and ids never added are not found. */
    s = webhook_seen_new(4096);
    uint8_t(*many)[PROTO_ID_LEN] = malloc(1000 * PROTO_ID_LEN);
    randombytes_buf(many, 1000 * PROTO_ID_LEN);
    for (size_t i = 0; i < 1000; i++)
        webhook_seen_add(s, many[i]);
    assert_int_equal(webhook_seen_count(s), 1000);
    for (size_t i = 0; i < 1000; i++)
        assert_true(webhook_seen_has(s, many[i]));
    for (size_t i = 0; i < 1000; i++) {
        uint8_t other[PROTO_ID_LEN];
        randombytes_buf(other, sizeof other);
        assert_false(webhook_seen_has(s, other));
    }
    free(many);
    webhook_seen_free(s);
}

static void test_incidents(void **state)
{
    (void)state;
    struct webhook_incidents t;
    memset(&t, 0, sizeof t);
    t.max = 3;
    const struct webhook_incstate open2 = {PROTO_LEVEL_INCIDENT, true, false},
                                  open3 = {PROTO_LEVEL_PROTOCOL, true, false},
                                  alert1 = {1, false, false};
    struct webhook_incstate before = {9, true, true};
    /* New incidents: before is the state of none. */
    assert_int_equal(webhook_incidents_put(&t, "chc", 3, &alert1, &before), 0);
    assert_int_equal(before.level, 0);
    assert_false(before.confirmed);
    assert_false(before.concluded);
    assert_int_equal(webhook_incidents_put(&t, "ch", 2, &open2, &before), 0);
    /* Known ones: the state they had. */
    assert_int_equal(webhook_incidents_put(&t, "chc", 3, &open3, &before), 1);
    assert_int_equal(before.level, 1);
    assert_false(before.confirmed);
    assert_int_equal(webhook_incidents_put(&t, "chc", 3, &open2, &before), 1);
    assert_int_equal(before.level, PROTO_LEVEL_PROTOCOL);
    assert_true(before.confirmed);
    assert_int_equal(webhook_incidents_put(&t, "ch", 2, &open2, &before), 1);
    assert_int_equal(before.level, PROTO_LEVEL_INCIDENT);
    /* Sorted by id, a prefix first. */
    assert_int_equal(webhook_incidents_put(&t, "a", 1, &open2, &before), 0);
    assert_int_equal(t.n, 3);
    assert_memory_equal(t.v[0].id, "a", 1);
    assert_memory_equal(t.v[1].id, "ch", 2);
    assert_memory_equal(t.v[2].id, "chc", 3);
    /* Full: a fourth is not known, and from then on no new one is (it may be an old one the
     * table had no room for); those it holds still are. */
    assert_false(t.full);
    assert_int_equal(webhook_incidents_put(&t, "d", 1, &open2, &before), -1);
    assert_true(t.full);
    assert_int_equal(webhook_incidents_put(&t, "a", 1, &open3, &before), 1);
    assert_int_equal(webhook_incidents_put(&t, "0", 1, &open3, &before), -1);
    assert_int_equal(webhook_incidents_put(&t, "", 0, &open3, &before), -1);
    webhook_incidents_free(&t);
    assert_null(t.v);
    assert_int_equal(t.n, 0);
}

/* The queue of incidents to re-decide: FIFO, a second change merges (the earlier "before"
 * kept, the walk restarted and extended to the later change), bounded. */
static void test_rechecks(void **state)
{
    (void)state;
    struct webhook_rechecks *q = calloc(1, sizeof *q);
    assert_non_null(q);
    const struct webhook_incstate sa = {PROTO_LEVEL_SITUATIONAL, true, false},
                                  inc = {PROTO_LEVEL_INCIDENT, true, false};
    assert_null(webhook_rechecks_head(q));
    webhook_rechecks_pop(q); /* nothing */
    assert_int_equal(webhook_rechecks_put(q, "i-1", 3, &sa, 100), 0);
    assert_int_equal(webhook_rechecks_put(q, "i-2", 3, NULL, 101), 0);
    struct webhook_recheck *h = webhook_rechecks_head(q);
    assert_memory_equal(h->id, "i-1", 3);
    assert_int_equal(h->idlen, 3);
    assert_true(h->known);
    assert_int_equal(h->before.level, PROTO_LEVEL_SITUATIONAL);
    assert_int_equal(h->after, 0);
    assert_int_equal(h->until, 100);
    /* Half walked, then changed again: from the start, up to the new change, before kept. */
    h->after = 57;
    assert_int_equal(webhook_rechecks_put(q, "i-1", 3, &inc, 130), 1);
    assert_int_equal(q->n, 2);
    h = webhook_rechecks_head(q);
    assert_int_equal(h->after, 0);
    assert_int_equal(h->until, 130);
    assert_int_equal(h->before.level, PROTO_LEVEL_SITUATIONAL);
    /* An id that is a prefix of another is another incident. */
    assert_int_equal(webhook_rechecks_put(q, "i-", 2, &sa, 131), 0);
    webhook_rechecks_pop(q);
    h = webhook_rechecks_head(q);
    assert_memory_equal(h->id, "i-2", 3);
    assert_false(h->known);
    /* Merging into one whose "before" is not known leaves it not known. */
    assert_int_equal(webhook_rechecks_put(q, "i-2", 3, &inc, 140), 1);
    assert_false(webhook_rechecks_head(q)->known);
    webhook_rechecks_pop(q);
    assert_memory_equal(webhook_rechecks_head(q)->id, "i-", 2);
    webhook_rechecks_pop(q);
    assert_null(webhook_rechecks_head(q));
    /* Full: a new incident is refused, one already waiting still merges. */
    char id[PROTO_INCIDENT_MAX + 1];
    for (int i = 0; i < WEBHOOK_RECHECK_PENDING; i++) {
        int n = snprintf(id, sizeof id, "inc-%d", i);
        assert_int_equal(webhook_rechecks_put(q, id, (size_t)n, &sa, (uint64_t)i), 0);
    }
    assert_int_equal(webhook_rechecks_put(q, "one-more", 8, &sa, 500), -1);
    assert_int_equal(webhook_rechecks_put(q, "inc-7", 5, &inc, 501), 1);
    assert_int_equal(q->n, WEBHOOK_RECHECK_PENDING);
    /* Ids that cannot be an incident's. */
    webhook_rechecks_pop(q);
    assert_int_equal(webhook_rechecks_put(q, "", 0, &sa, 1), -1);
    memset(id, 'x', sizeof id);
    assert_int_equal(webhook_rechecks_put(q, id, PROTO_INCIDENT_MAX + 1, &sa, 1), -1);
    assert_int_equal(webhook_rechecks_put(q, id, PROTO_INCIDENT_MAX, &sa, 1), 0);
    free(q);
}

static void test_turned_block(void **state)
{
    (void)state;
    struct node_config *c = malloc(sizeof *c);
    config_defaults(c); /* block: agency role, incident >= content_incident, 2 agreeing */
    const struct policy_config *p = &c->policy;
    const struct webhook_incstate none = {0, false, false},
                                  unconfirmed = {PROTO_LEVEL_PROTOCOL, false, false},
                                  sa = {PROTO_LEVEL_SITUATIONAL, true, false},
                                  incident = {PROTO_LEVEL_INCIDENT, true, false};
    /* A platform's signal under an incident an agency just escalated to content_incident. */
    struct policy_input in = {.role = PROTO_ROLE_PLATFORM,
                              .member = true,
                              .distance = -1,
                              .incident_level = PROTO_LEVEL_INCIDENT,
                              .incident_confirmed = true};
    assert_true(webhook_turned_block(p, &in, NULL));
    assert_true(webhook_turned_block(p, &in, &none));
    assert_true(webhook_turned_block(p, &in, &unconfirmed));
    assert_true(webhook_turned_block(p, &in, &sa));
    assert_false(webhook_turned_block(p, &in, &incident)); /* it blocked before: no change */
    /* Concluded: review, nothing to deliver. */
    in.incident_concluded = true;
    assert_false(webhook_turned_block(p, &in, NULL));
    assert_false(webhook_turned_block(p, &in, &none));
    in.incident_concluded = false;
    /* Disputed by two organisations: review whatever the incident. */
    in.orgs_dispute = 2;
    assert_false(webhook_turned_block(p, &in, &none));
    in.orgs_dispute = 0;
    /* Two agreeing: it blocked before the incident changed. */
    in.orgs_agree = 2;
    assert_true(webhook_turned_block(p, &in, NULL));
    assert_false(webhook_turned_block(p, &in, &none));
    in.orgs_agree = 0;
    /* An agency's signal blocks by role, incident or not. */
    in.role = PROTO_ROLE_AGENCY;
    assert_false(webhook_turned_block(p, &in, &none));
    /* With a rule that sends the crisis's highest level to review, de-escalating an agency's
     * signal's incident turns it block. */
    char why[200];
    if (policy_rule_parse("peak: review if incident >= content_incident_protocol",
                          &c->policy.rules[0], why, sizeof why))
        fail_msg("%s", why);
    c->policy.nrules = 1;
    const struct webhook_incstate peak = {PROTO_LEVEL_PROTOCOL, true, false};
    assert_true(webhook_turned_block(p, &in, &peak));
    in.incident_level = PROTO_LEVEL_PROTOCOL;
    assert_false(webhook_turned_block(p, &in, &incident)); /* escalated to it: review now */
    free(c);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign),         cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_queue),        cmocka_unit_test(test_url),
        cmocka_unit_test(test_events),       cmocka_unit_test(test_config),
        cmocka_unit_test(test_seen),         cmocka_unit_test(test_incidents),
        cmocka_unit_test(test_turned_block), cmocka_unit_test(test_rechecks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
