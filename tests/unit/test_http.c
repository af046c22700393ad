/*
 * The HTTP request parser (socket-free) and the server end to end on a libuv loop, with a
 * uv_tcp client on the same loop.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/http.h"

/* ---- Parser tests: requests are copied into a log. */

#define MAXREQ 8

struct got_req {
    enum http_verb verb;
    char path[HTTP_PATH_MAX];
    char query[512];
    bool has_query;
    char auth[256], ctype[256], lastid[256];
    bool has_auth, has_ctype, has_lastid;
    char body[4096];
    size_t body_len;
    bool keep_alive;
};

struct plog {
    int n;
    struct got_req r[MAXREQ];
    int errs;
    int status;
    char code[64];
};

static void cp(char *dst, size_t n, const char *src, bool *has)
{
    *has = src != NULL;
    snprintf(dst, n, "%s", src ? src : "");
}

static void on_req(void *ctx, const struct http_req *req)
{
    struct plog *l = ctx;
    assert_true(l->n < MAXREQ);
    struct got_req *g = &l->r[l->n++];
    g->verb = req->verb;
    snprintf(g->path, sizeof g->path, "%s", req->path);
    cp(g->query, sizeof g->query, req->query, &g->has_query);
    cp(g->auth, sizeof g->auth, req->authorization, &g->has_auth);
    cp(g->ctype, sizeof g->ctype, req->content_type, &g->has_ctype);
    cp(g->lastid, sizeof g->lastid, req->last_event_id, &g->has_lastid);
    assert_non_null(req->body);
    assert_int_equal(req->body[req->body_len], 0);
    assert_true(req->body_len < sizeof g->body);
    memcpy(g->body, req->body, req->body_len);
    g->body_len = req->body_len;
    g->keep_alive = req->keep_alive;
}

static void on_err(void *ctx, int status, const char *code, const char *message)
{
    struct plog *l = ctx;
    assert_non_null(message);
    l->errs++;
    l->status = status;
    snprintf(l->code, sizeof l->code, "%s", code);
}

/* Feeds s in pieces of `step` bytes (0 = all at once). Returns the last feed's result. */
static int feed(struct plog *l, const struct http_limits *lim, const char *s, size_t len,
                size_t step)
{
    struct http_reqparser *p;
    memset(l, 0, sizeof *l);
    assert_int_equal(http_reqparser_new(&p, lim, on_req, on_err, l), 0);
    int rc = 0;
    if (step == 0) step = len ? len : 1;
    for (size_t off = 0; off < len && rc == 0; off += step) {
        size_t n = len - off < step ? len - off : step;
        rc = http_reqparser_feed(p, (const uint8_t *)s + off, n);
    }
    http_reqparser_free(p);
    return rc;
}

static int feeds(struct plog *l, const char *s, size_t step)
{
    return feed(l, NULL, s, strlen(s), step);
}

static void test_get_with_query(void **state)
{
    (void)state;
    struct plog l;
    const char *req = "GET /v1/lookup?type=md5&value=ab%20c HTTP/1.1\r\nHost: x\r\n\r\n";
    for (size_t step = 0; step < 5; step++) {
        assert_int_equal(feeds(&l, req, step), 0);
        assert_int_equal(l.errs, 0);
        assert_int_equal(l.n, 1);
        assert_int_equal(l.r[0].verb, HTTP_VERB_GET);
        assert_string_equal(l.r[0].path, "/v1/lookup");
        assert_true(l.r[0].has_query);
        assert_string_equal(l.r[0].query, "type=md5&value=ab%20c");
        assert_false(l.r[0].has_auth);
        assert_int_equal(l.r[0].body_len, 0);
        assert_true(l.r[0].keep_alive);
    }
    assert_int_equal(feeds(&l, "GET /v1/status HTTP/1.1\r\n\r\n", 0), 0);
    assert_false(l.r[0].has_query);
    assert_int_equal(feeds(&l, "GET /v1/status? HTTP/1.1\r\n\r\n", 0), 0);
    assert_true(l.r[0].has_query);
    assert_string_equal(l.r[0].query, "");
}

static void test_post_with_body(void **state)
{
    (void)state;
    struct plog l;
    const char *req = "POST /v1/signals HTTP/1.1\r\nContent-Type: application/json\r\n"
                      "Authorization: Bearer abc\r\nContent-Length: 13\r\n\r\n{\"type\":\"x\"}!";
    for (size_t step = 0; step < 4; step++) {
        assert_int_equal(feeds(&l, req, step), 0);
        assert_int_equal(l.n, 1);
        assert_int_equal(l.r[0].verb, HTTP_VERB_POST);
        assert_string_equal(l.r[0].path, "/v1/signals");
        assert_int_equal(l.r[0].body_len, 13);
        assert_memory_equal(l.r[0].body, "{\"type\":\"x\"}!", 13);
        assert_string_equal(l.r[0].ctype, "application/json");
        assert_string_equal(l.r[0].auth, "Bearer abc");
    }
    /* HEAD, and any other method maps to OTHER. */
    assert_int_equal(feeds(&l, "HEAD /x HTTP/1.1\r\n\r\nDELETE /y HTTP/1.1\r\n\r\n", 0), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.r[0].verb, HTTP_VERB_HEAD);
    assert_int_equal(l.r[1].verb, HTTP_VERB_OTHER);
    assert_string_equal(l.r[1].path, "/y");
}

static void test_pipelined(void **state)
{
    (void)state;
    struct plog l;
    const char *req = "GET /a HTTP/1.1\r\n\r\n"
                      "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
                      "GET /c?q=1 HTTP/1.1\r\nConnection: close\r\n\r\n"
                      "GET /ignored HTTP/1.1\r\n\r\n";
    for (size_t step = 0; step < 3; step++) {
        assert_int_equal(feeds(&l, req, step), 0);
        assert_int_equal(l.errs, 0);
        assert_int_equal(l.n, 3);
        assert_string_equal(l.r[0].path, "/a");
        assert_true(l.r[0].keep_alive);
        assert_string_equal(l.r[1].path, "/b");
        assert_int_equal(l.r[1].body_len, 3);
        assert_string_equal(l.r[2].path, "/c");
        assert_string_equal(l.r[2].query, "q=1");
        assert_false(l.r[2].keep_alive);
    }
    /* HTTP/1.0 closes unless asked otherwise. */
    assert_int_equal(feeds(&l, "GET / HTTP/1.0\r\n\r\n", 0), 0);
    assert_false(l.r[0].keep_alive);
    assert_int_equal(feeds(&l, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0), 0);
    assert_true(l.r[0].keep_alive);
}

static void test_chunked(void **state)
{
    (void)state;
    struct plog l;
    const char *req = "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET /next HTTP/1.1\r\n\r\n";
    for (size_t step = 0; step < 4; step++) {
        assert_int_equal(feeds(&l, req, step), 0);
        assert_int_equal(l.n, 2);
        assert_int_equal(l.r[0].body_len, 11);
        assert_memory_equal(l.r[0].body, "hello world", 11);
        assert_string_equal(l.r[1].path, "/next");
    }
}

static void test_body_over_cap(void **state)
{
    (void)state;
    struct plog l;
    struct http_limits lim = {.max_header = 0, .max_body = 10};
    /* Content-Length is checked before any body byte arrives. */
    const char *a = "POST /x HTTP/1.1\r\nContent-Length: 11\r\n\r\n";
    assert_int_equal(feed(&l, &lim, a, strlen(a), 0), -EPROTO);
    assert_int_equal(l.errs, 1);
    assert_int_equal(l.status, 413);
    assert_string_equal(l.code, "payload_too_large");
    assert_int_equal(l.n, 0);
    /* Exactly at the cap is fine. */
    const char *ok = "POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789";
    assert_int_equal(feed(&l, &lim, ok, strlen(ok), 0), 0);
    assert_int_equal(l.n, 1);
    /* A chunked body is checked as it grows. */
    const char *c = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n";
    for (size_t step = 0; step < 3; step++) {
        assert_int_equal(feed(&l, &lim, c, strlen(c), step), -EPROTO);
        assert_int_equal(l.status, 413);
        assert_int_equal(l.n, 0);
    }
    /* A Content-Length beyond 64 bits is malformed. */
    assert_int_equal(
        feeds(&l, "POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 0),
        -EPROTO);
    assert_int_equal(l.status, 400);
}

static void test_headers_over_cap(void **state)
{
    (void)state;
    struct plog l;
    struct http_limits lim = {.max_header = 256, .max_body = 0};
    char big[1024];
    snprintf(big, sizeof big, "GET / HTTP/1.1\r\nX-Pad: %0300d\r\n\r\n", 0);
    for (size_t step = 0; step < 4; step++) {
        assert_int_equal(feed(&l, &lim, big, strlen(big), step), -EPROTO);
        assert_int_equal(l.errs, 1);
        assert_int_equal(l.status, 431);
        assert_string_equal(l.code, "header_too_large");
    }
    /* Many small headers add up. */
    char many[2048] = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 40; i++)
        strcat(many, "A: b\r\n");
    strcat(many, "\r\n");
    assert_int_equal(feed(&l, &lim, many, strlen(many), 7), -EPROTO);
    assert_int_equal(l.status, 431);
    /* A long request target. */
    char url[1024];
    snprintf(url, sizeof url, "GET /%0400d HTTP/1.1\r\n\r\n", 0);
    assert_int_equal(feed(&l, &lim, url, strlen(url), 0), -EPROTO);
    assert_int_equal(l.status, 431);
    /* The count is exact: request line and headers through the blank line. */
    char exact[512];
    for (int extra = 0; extra < 2; extra++) {
        int pad = 256 - (int)strlen("GET / HTTP/1.1\r\nX: \r\n\r\n") + extra;
        snprintf(exact, sizeof exact, "GET / HTTP/1.1\r\nX: %0*d\r\n\r\n", pad, 0);
        assert_int_equal(strlen(exact), 256 + extra);
        for (size_t step = 0; step < 3; step++) {
            assert_int_equal(feed(&l, &lim, exact, strlen(exact), step), extra ? -EPROTO : 0);
            assert_int_equal(l.n, extra ? 0 : 1);
        }
    }
    /* Under the cap passes. */
    const char *small = "GET / HTTP/1.1\r\nX-Pad: 1234\r\n\r\n";
    assert_int_equal(feed(&l, &lim, small, strlen(small), 0), 0);
    assert_int_equal(l.n, 1);
    /* Default cap, 16 KiB, with a path over HTTP_PATH_MAX. */
    char *lp = malloc(HTTP_PATH_MAX + 64);
    snprintf(lp, HTTP_PATH_MAX + 64, "GET /%0*d HTTP/1.1\r\n\r\n", HTTP_PATH_MAX, 0);
    assert_int_equal(feeds(&l, lp, 0), -EPROTO);
    assert_int_equal(l.status, 431);
    free(lp);
    /* A captured header value has its own cap. */
    char *la = malloc(4096);
    snprintf(la, 4096, "GET / HTTP/1.1\r\nAuthorization: Bearer %02000d\r\n\r\n", 0);
    assert_int_equal(feeds(&l, la, 100), -EPROTO);
    assert_int_equal(l.status, 431);
    free(la);
}

static void test_bad_request(void **state)
{
    (void)state;
    struct plog l;
    static const char *const bad[] = {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/9.9\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        "GET /a%zz HTTP/1.1\r\n\r\n",
        "GET /a%0 HTTP/1.1\r\n\r\n",
        "GET /a%00b HTTP/1.1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(feeds(&l, bad[i], 0), -EPROTO);
        assert_int_equal(l.errs, 1);
        assert_int_equal(l.status, 400);
        assert_string_equal(l.code, "bad_request");
        assert_int_equal(l.n, 0);
    }
    /* After an error the parser takes nothing more, and does not call on_err again. */
    struct http_reqparser *p;
    memset(&l, 0, sizeof l);
    assert_int_equal(http_reqparser_new(&p, NULL, on_req, on_err, &l), 0);
    assert_int_equal(http_reqparser_feed(p, (const uint8_t *)"BAD\r\n\r\n", 7), -EPROTO);
    assert_int_equal(http_reqparser_feed(p, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18),
                     -EPROTO);
    assert_int_equal(l.errs, 1);
    assert_int_equal(l.n, 0);
    http_reqparser_free(p);
}

static void test_percent_decoding(void **state)
{
    (void)state;
    struct plog l;
    assert_int_equal(feeds(&l, "GET /v1/records/a%2Fb%41+c%e2%82%ac?x=%zz HTTP/1.1\r\n\r\n", 0), 0);
    assert_int_equal(l.n, 1);
    /* '+' stays in a path; the query stays raw. */
    assert_string_equal(l.r[0].path, "/v1/records/a/bA+c\xe2\x82\xac");
    assert_string_equal(l.r[0].query, "x=%zz");
    /* An absolute-form target yields its path. */
    assert_int_equal(feeds(&l, "GET http://node:7480/v1/status?a=1 HTTP/1.1\r\n\r\n", 0), 0);
    assert_string_equal(l.r[0].path, "/v1/status");
    assert_string_equal(l.r[0].query, "a=1");
}

static void test_header_capture(void **state)
{
    (void)state;
    struct plog l;
    const char *req = "GET /v1/events HTTP/1.1\r\nauthorization: Bearer tok\r\n"
                      "CONTENT-TYPE: text/plain\r\nLast-Event-Id: 42\r\n"
                      "X-Authorization: no\r\nAuthorizationX: no\r\n\r\n";
    for (size_t step = 0; step < 4; step++) {
        assert_int_equal(feeds(&l, req, step), 0);
        assert_int_equal(l.n, 1);
        assert_true(l.r[0].has_auth);
        assert_string_equal(l.r[0].auth, "Bearer tok");
        assert_string_equal(l.r[0].ctype, "text/plain");
        assert_string_equal(l.r[0].lastid, "42");
    }
    /* Headers do not leak from one pipelined request into the next; an empty value is
     * present and empty. */
    assert_int_equal(feeds(&l,
                           "GET /1 HTTP/1.1\r\nAuthorization: a\r\n\r\n"
                           "GET /2 HTTP/1.1\r\nContent-Type:\r\n\r\n",
                           0),
                     0);
    assert_int_equal(l.n, 2);
    assert_true(l.r[0].has_auth);
    assert_false(l.r[1].has_auth);
    assert_true(l.r[1].has_ctype);
    assert_string_equal(l.r[1].ctype, "");
}

static void test_query_get(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(http_query_get("type=md5&value=a%20b+c", "value", out, sizeof out), 5);
    assert_string_equal(out, "a b c");
    assert_int_equal(http_query_get("type=md5&value=x", "type", out, sizeof out), 3);
    assert_string_equal(out, "md5");
    assert_int_equal(http_query_get("type=md5", "typ", out, sizeof out), -ENOENT);
    assert_int_equal(http_query_get("atype=md5", "type", out, sizeof out), -ENOENT);
    assert_int_equal(http_query_get(NULL, "type", out, sizeof out), -ENOENT);
    assert_int_equal(http_query_get("", "type", out, sizeof out), -ENOENT);
    /* A key without '=' has an empty value; an encoded key matches. */
    assert_int_equal(http_query_get("a&flag&b=1", "flag", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(http_query_get("x=1&na%6De=v", "name", out, sizeof out), 1);
    assert_string_equal(out, "v");
    /* The first occurrence wins; empty pairs are skipped. */
    assert_int_equal(http_query_get("&&k=1&k=2", "k", out, sizeof out), 1);
    assert_string_equal(out, "1");
    /* Too long for out: 15 bytes fit, 16 do not. */
    assert_int_equal(http_query_get("k=123456789012345", "k", out, sizeof out), 15);
    assert_int_equal(http_query_get("k=1234567890123456", "k", out, sizeof out), -ENOSPC);
    /* Bad escapes and an encoded NUL are refused. */
    assert_int_equal(http_query_get("k=%zz", "k", out, sizeof out), -EINVAL);
    assert_int_equal(http_query_get("k=%4", "k", out, sizeof out), -EINVAL);
    assert_int_equal(http_query_get("k=a%00", "k", out, sizeof out), -EINVAL);
    assert_int_equal(http_query_get("k=%2B%3d", "k", out, sizeof out), 2);
    assert_string_equal(out, "+=");
}

/* ---- End to end: the server and a uv_tcp client on one loop. */

struct e2e {
    uv_loop_t loop;
    struct http_server *srv;
    uv_tcp_t client;
    uv_connect_t connect;
    uv_timer_t async_timer;
    uv_timer_t guard;
    struct http_conn *pending; /* awaiting the async answer */
    struct http_conn *stream;
    int requests;
    int stream_closed;
    char got[8192];
    size_t got_len;
    int phase;
    bool stopped;
    bool client_closed;
};

static void handler(void *ctx, struct http_conn *c, const struct http_req *req);

static void async_answer(uv_timer_t *t)
{
    struct e2e *e = t->data;
    struct http_conn *c = e->pending;
    e->pending = NULL;
    http_add_header(c, "X-Async: yes");
    http_respond(c, 202, "application/json", "{\"later\":true}", 14);
}

static void stream_closed(void *ctx, struct http_conn *c)
{
    struct e2e *e = ctx;
    assert_ptr_equal(c, e->stream);
    e->stream = NULL;
    e->stream_closed++;
}

static void handler(void *ctx, struct http_conn *c, const struct http_req *req)
{
    struct e2e *e = ctx;
    e->requests++;
    if (strcmp(req->path, "/async") == 0) {
        e->pending = c;
        uv_timer_start(&e->async_timer, async_answer, 50, 0);
    } else if (strcmp(req->path, "/v1/events") == 0) {
        e->stream = c;
        assert_int_equal(http_sse_begin(c, stream_closed, e), 0);
        assert_int_equal(http_sse_send(c, "id: 1\ndata: hi\n\n", 16), 0);
    } else if (req->verb == HTTP_VERB_OTHER) {
        http_respond(c, 405, "application/json", "{}", 2);
    } else {
        char body[128];
        int n = snprintf(body, sizeof body, "{\"path\":\"%s\",\"n\":%d}", req->path, e->requests);
        http_respond(c, 200, "application/json", body, (size_t)n);
    }
}

static void on_client_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)sz;
    struct e2e *e = h->data;
    *b = uv_buf_init(e->got + e->got_len, (unsigned)(sizeof e->got - 1 - e->got_len));
}

static void client_closed(uv_handle_t *h)
{
    struct e2e *e = h->data;
    e->client_closed = true;
}

static void client_write(struct e2e *e, const char *s)
{
    uv_buf_t b = uv_buf_init((char *)s, (unsigned)strlen(s));
    assert_int_equal(uv_try_write((uv_stream_t *)&e->client, &b, 1), (int)strlen(s));
}

static void server_done(void *arg)
{
    struct e2e *e = arg;
    e->stopped = true;
    e->srv = NULL;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *s = hay; (s = strstr(s, needle)) != NULL; s++)
        n++;
    return n;
}

static void on_client_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    (void)b;
    struct e2e *e = st->data;
    if (nread < 0) {
        uv_close((uv_handle_t *)st, client_closed);
        return;
    }
    e->got_len += (size_t)nread;
    e->got[e->got_len] = '\0';
    if (e->phase == 0 && count(e->got, "HTTP/1.1 ") == 2 && strstr(e->got, "\"n\":2}")) {
        /* Two keep-alive answers, in order. */
        const char *first = strstr(e->got, "HTTP/1.1 200 OK\r\n");
        assert_non_null(first);
        assert_non_null(strstr(e->got, "Connection: keep-alive\r\n"));
        assert_non_null(strstr(e->got, "Content-Type: application/json\r\n"));
        assert_true(strstr(e->got, "\"path\":\"/one\"") < strstr(e->got, "\"path\":\"/two\""));
        e->phase = 1;
        e->got_len = 0;
        client_write(e, "GET /async HTTP/1.1\r\n\r\nHEAD /after HTTP/1.1\r\n\r\n");
    } else if (e->phase == 1 && count(e->got, "HTTP/1.1 ") == 2 &&
               strstr(e->got, "\r\n\r\n{\"later\":true}")) {
        /* The async answer came first; the pipelined HEAD after it, with no body. */
        char *hd = strstr(e->got, "HTTP/1.1 200");
        if (!hd || !strstr(hd, "\r\n\r\n")) return;
        assert_non_null(strstr(e->got, "HTTP/1.1 202 Accepted\r\n"));
        assert_non_null(strstr(e->got, "X-Async: yes\r\n"));
        assert_true(strstr(e->got, "202") < hd);
        assert_string_equal(strstr(hd, "\r\n\r\n"), "\r\n\r\n");
        assert_non_null(strstr(hd, "Content-Length: "));
        e->phase = 2;
        e->got_len = 0;
        client_write(e, "PUT /x HTTP/1.1\r\n\r\n");
    } else if (e->phase == 2 && strstr(e->got, "\r\n\r\n{}")) {
        assert_non_null(strstr(e->got, "HTTP/1.1 405 Method Not Allowed\r\n"));
        e->phase = 3;
        e->got_len = 0;
        client_write(e, "GET /v1/events HTTP/1.1\r\nLast-Event-ID: 0\r\n\r\n");
    } else if (e->phase == 3 && strstr(e->got, "data: hi\n\n")) {
        assert_non_null(strstr(e->got,
                               "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               "Cache-Control: no-cache\r\nConnection: keep-alive\r\n\r\n"));
        assert_non_null(e->stream);
        assert_int_equal(http_sse_send(e->stream, "data: two\n\n", 11), 0);
        e->phase = 4;
    } else if (e->phase == 4 && strstr(e->got, "data: two\n\n")) {
        /* The client leaves: the stream's close callback must run once. */
        e->phase = 5;
        uv_close((uv_handle_t *)st, client_closed);
    }
}

static void on_connected(uv_connect_t *req, int status)
{
    struct e2e *e = req->data;
    assert_int_equal(status, 0);
    assert_int_equal(uv_read_start((uv_stream_t *)&e->client, on_client_alloc, on_client_read), 0);
    client_write(e, "GET /one HTTP/1.1\r\nHost: t\r\n\r\nGET /two HTTP/1.1\r\nHost: t\r\n\r\n");
}

static void guard_tick(uv_timer_t *t)
{
    struct e2e *e = t->data;
    if (e->phase == 5 && e->stream_closed == 1 && e->srv && !e->stopped) {
        http_server_stop(e->srv, server_done, e);
        uv_close((uv_handle_t *)&e->async_timer, NULL);
        uv_close((uv_handle_t *)t, NULL);
    }
}

static void test_server_end_to_end(void **state)
{
    (void)state;
    struct e2e *e = calloc(1, sizeof *e);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    struct http_server_opts o = {
        .host = "127.0.0.1", .port = 0, .max_conns = 8, .idle_timeout_s = 5};
    char err[256];
    assert_int_equal(http_server_start(&e->srv, &e->loop, &o, handler, e, err, sizeof err), 0);
    int port = http_server_port(e->srv);
    assert_true(port > 0);

    uv_timer_init(&e->loop, &e->async_timer);
    e->async_timer.data = e;
    uv_timer_init(&e->loop, &e->guard);
    e->guard.data = e;
    uv_timer_start(&e->guard, guard_tick, 10, 10);
    uv_tcp_init(&e->loop, &e->client);
    e->client.data = e;
    e->connect.data = e;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", port, &sa);
    assert_int_equal(
        uv_tcp_connect(&e->connect, &e->client, (const struct sockaddr *)&sa, on_connected), 0);

    /* A time limit on the whole exchange, in case of a hang. */
    alarm(20);
    assert_int_equal(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
    alarm(0);
    assert_int_equal(e->phase, 5);
    assert_int_equal(e->requests, 6);
    assert_int_equal(e->stream_closed, 1);
    assert_true(e->stopped);
    assert_true(e->client_closed);
    assert_int_equal(uv_loop_close(&e->loop), 0);
    free(e);
}

/* A parse error is answered with the JSON error body and the connection closes; a client that
 * leaves while its request is in flight leaves a conn that the later answer frees; stop closes
 * an idle connection. */
struct e2e2 {
    uv_loop_t loop;
    struct http_server *srv;
    uv_tcp_t a, b;
    uv_connect_t ca, cb;
    uv_timer_t t;
    char got[4096];
    size_t got_len;
    struct http_conn *held;
    int closed;
    bool stopped;
    bool stop_called;
};

static void h2(void *ctx, struct http_conn *c, const struct http_req *req)
{
    (void)req;
    struct e2e2 *e = ctx;
    e->held = c; /* answered only after the client left */
}

static void a_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)sz;
    struct e2e2 *e = h->data;
    *b = uv_buf_init(e->got + e->got_len, (unsigned)(sizeof e->got - 1 - e->got_len));
}

static void c2_closed(uv_handle_t *h)
{
    struct e2e2 *e = h->data;
    e->closed++;
}

static void done2(void *arg)
{
    struct e2e2 *e = arg;
    e->stopped = true;
}

static void a_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    (void)b;
    struct e2e2 *e = st->data;
    if (nread > 0) {
        e->got_len += (size_t)nread;
        e->got[e->got_len] = '\0';
        return;
    }
    if (nread < 0) {
        /* The server closed after its error answer. */
        assert_non_null(strstr(e->got, "HTTP/1.1 400 Bad Request\r\n"));
        assert_non_null(strstr(e->got, "Connection: close\r\n"));
        assert_non_null(strstr(e->got, "{\"error\":{\"code\":\"bad_request\",\"message\":\""));
        uv_close((uv_handle_t *)st, c2_closed);
    }
}

static void tick2(uv_timer_t *t)
{
    struct e2e2 *e = t->data;
    if (e->closed == 1 && e->held && !e->stop_called) {
        /* Stop while a request is in flight: every handle closes, done runs, and the conn
         * waits for its answer. */
        e->stop_called = true;
        http_server_stop(e->srv, done2, e);
    } else if (e->stopped && e->held) {
        e->srv = NULL;
        http_respond(e->held, 200, "text/plain", "late", 4); /* dropped; frees the conn */
        e->held = NULL;
        uv_close((uv_handle_t *)&e->b, c2_closed);
        uv_close((uv_handle_t *)t, NULL);
    }
}

static void a_connected(uv_connect_t *req, int status)
{
    assert_int_equal(status, 0);
    struct e2e2 *e = req->data;
    uv_stream_t *s = req->handle;
    if (s == (uv_stream_t *)&e->a) {
        uv_read_start(s, a_alloc, a_read);
        uv_buf_t b = uv_buf_init("NOT HTTP\r\n\r\n", 12);
        assert_int_equal(uv_try_write(s, &b, 1), 12);
    } else {
        uv_buf_t b = uv_buf_init("GET /slow HTTP/1.1\r\n\r\n", 22);
        assert_int_equal(uv_try_write(s, &b, 1), 22);
    }
}

static void test_server_errors_and_abandoned(void **state)
{
    (void)state;
    struct e2e2 *e = calloc(1, sizeof *e);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    struct http_server_opts o = {.host = "::1", .port = 0};
    char err[256];
    int rc = http_server_start(&e->srv, &e->loop, &o, h2, e, err, sizeof err);
    struct sockaddr_storage ss;
    if (rc != 0) {
        /* No IPv6 on this host: fall back to IPv4; the failed listener needs a loop run. */
        uv_run(&e->loop, UV_RUN_NOWAIT);
        o.host = "127.0.0.1";
        assert_int_equal(http_server_start(&e->srv, &e->loop, &o, h2, e, err, sizeof err), 0);
        uv_ip4_addr("127.0.0.1", http_server_port(e->srv), (struct sockaddr_in *)&ss);
    } else {
        uv_ip6_addr("::1", http_server_port(e->srv), (struct sockaddr_in6 *)&ss);
    }
    uv_tcp_init(&e->loop, &e->a);
    uv_tcp_init(&e->loop, &e->b);
    e->a.data = e->b.data = e;
    e->ca.data = e->cb.data = e;
    uv_timer_init(&e->loop, &e->t);
    e->t.data = e;
    uv_timer_start(&e->t, tick2, 20, 20);
    assert_int_equal(uv_tcp_connect(&e->ca, &e->a, (struct sockaddr *)&ss, a_connected), 0);
    assert_int_equal(uv_tcp_connect(&e->cb, &e->b, (struct sockaddr *)&ss, a_connected), 0);
    alarm(20);
    assert_int_equal(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
    alarm(0);
    assert_true(e->stopped);
    assert_int_equal(e->closed, 2);
    assert_int_equal(uv_loop_close(&e->loop), 0);
    free(e);
}

/* Backpressure: a client that pipelines requests for large answers without reading them stops
 * being served once 1 MiB is queued unsent, and is served again as it reads; an idle
 * connection is closed after idle_timeout_s. */
#define BIG_N 40
#define BIG_LEN (512 * 1024)

struct e2e3 {
    uv_loop_t loop;
    struct http_server *srv;
    uv_tcp_t client, idle;
    uv_connect_t cc, ci;
    uv_timer_t t;
    char *big;
    int handled;
    int handled_before_read;
    size_t got;
    int closed;
    bool idle_closed_by_server;
    bool stopped;
    uint64_t idle_start;
    char rbuf[65536];
};

static void h3(void *ctx, struct http_conn *c, const struct http_req *req)
{
    (void)req;
    struct e2e3 *e = ctx;
    e->handled++;
    http_respond(c, 200, "application/octet-stream", e->big, BIG_LEN);
}

static void r3_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)sz;
    struct e2e3 *e = h->data;
    *b = uv_buf_init(e->rbuf, sizeof e->rbuf);
}

static void c3_closed(uv_handle_t *h)
{
    struct e2e3 *e = h->data;
    e->closed++;
}

static void done3(void *arg)
{
    struct e2e3 *e = arg;
    e->stopped = true;
}

static void idle_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    (void)b;
    struct e2e3 *e = st->data;
    if (nread < 0) {
        /* Closed by the server's idle timer: about 1 s after connecting. */
        uint64_t ms = uv_now(&e->loop) - e->idle_start;
        assert_true(ms >= 900 && ms < 5000);
        e->idle_closed_by_server = true;
        uv_close((uv_handle_t *)st, c3_closed);
    }
}

static void big_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    (void)b;
    struct e2e3 *e = st->data;
    if (nread < 0) {
        uv_close((uv_handle_t *)st, c3_closed);
        return;
    }
    e->got += (size_t)nread;
}

static void tick3(uv_timer_t *t)
{
    struct e2e3 *e = t->data;
    if (e->handled_before_read < 0) {
        /* 300 ms without reading: serving paused well before all BIG_N were answered. */
        e->handled_before_read = e->handled;
        uv_read_start((uv_stream_t *)&e->client, r3_alloc, big_read);
        return;
    }
    if (e->handled == BIG_N && e->got >= (size_t)BIG_N * BIG_LEN && e->idle_closed_by_server &&
        !e->stopped) {
        uv_close((uv_handle_t *)&e->client, c3_closed);
        http_server_stop(e->srv, done3, e);
        uv_close((uv_handle_t *)t, NULL);
    }
}

static void c3_connected(uv_connect_t *req, int status)
{
    assert_int_equal(status, 0);
    struct e2e3 *e = req->data;
    if (req->handle == (uv_stream_t *)&e->idle) {
        e->idle_start = uv_now(&e->loop);
        uv_read_start((uv_stream_t *)&e->idle, r3_alloc, idle_read);
        return;
    }
    static char reqs[BIG_N * 32];
    reqs[0] = '\0';
    for (int i = 0; i < BIG_N; i++)
        strcat(reqs, "GET /big HTTP/1.1\r\n\r\n");
    uv_buf_t b = uv_buf_init(reqs, (unsigned)strlen(reqs));
    assert_int_equal(uv_try_write((uv_stream_t *)&e->client, &b, 1), (int)strlen(reqs));
    uv_timer_start(&e->t, tick3, 300, 20);
}

static void test_server_backpressure_and_idle(void **state)
{
    (void)state;
    struct e2e3 *e = calloc(1, sizeof *e);
    e->big = calloc(1, BIG_LEN);
    e->handled_before_read = -1;
    assert_int_equal(uv_loop_init(&e->loop), 0);
    struct http_server_opts o = {.host = "127.0.0.1", .port = 0, .idle_timeout_s = 1};
    char err[256];
    assert_int_equal(http_server_start(&e->srv, &e->loop, &o, h3, e, err, sizeof err), 0);
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", http_server_port(e->srv), &sa);
    uv_tcp_init(&e->loop, &e->client);
    uv_tcp_init(&e->loop, &e->idle);
    uv_timer_init(&e->loop, &e->t);
    e->client.data = e->idle.data = e->t.data = e;
    e->cc.data = e->ci.data = e;
    assert_int_equal(uv_tcp_connect(&e->cc, &e->client, (struct sockaddr *)&sa, c3_connected), 0);
    assert_int_equal(uv_tcp_connect(&e->ci, &e->idle, (struct sockaddr *)&sa, c3_connected), 0);
    alarm(30);
    assert_int_equal(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
    alarm(0);
    assert_true(e->handled_before_read >= 1);
    assert_true(e->handled_before_read < BIG_N);
    assert_int_equal(e->handled, BIG_N);
    assert_int_equal(e->got / BIG_LEN, BIG_N); /* headers add a little */
    assert_true(e->stopped);
    assert_int_equal(e->closed, 2);
    assert_int_equal(uv_loop_close(&e->loop), 0);
    free(e->big);
    free(e);
}

static void test_server_bad_host(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct http_server *s = (struct http_server *)1;
    struct http_server_opts o = {.host = "not an address", .port = 0};
    char err[256];
    assert_true(http_server_start(&s, &loop, &o, h2, NULL, err, sizeof err) < 0);
    assert_null(s);
    assert_non_null(strstr(err, "'not an address'"));
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_with_query),
        cmocka_unit_test(test_post_with_body),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_body_over_cap),
        cmocka_unit_test(test_headers_over_cap),
        cmocka_unit_test(test_bad_request),
        cmocka_unit_test(test_percent_decoding),
        cmocka_unit_test(test_header_capture),
        cmocka_unit_test(test_query_get),
        cmocka_unit_test(test_server_end_to_end),
        cmocka_unit_test(test_server_errors_and_abandoned),
        cmocka_unit_test(test_server_backpressure_and_idle),
        cmocka_unit_test(test_server_bad_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
