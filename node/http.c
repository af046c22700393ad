/*
 * HTTP/1.1 server on libuv and http-parser. See http.h for the contract.
 *
 * Memory: every buffer that grows with input (URL, header values, body, the per-connection
 * read buffer, queued SSE output) has a hard cap fixed at init. A connection owns two handles
 * (tcp, timer); the struct is freed only when both close callbacks ran and no request is
 * awaiting an answer, so a handler may answer from a uv_queue_work after-callback long after
 * the client left.
 */
#include "http.h"

#include <errno.h>
#include <http_parser.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/gif.h"

#define HTTP_DEFAULT_MAX_BODY ((size_t)16 * 1024 * 1024)
#define HTTP_HDRVAL_MAX 1024     /* a captured header value, bytes */
#define HTTP_FIELD_MAX 64        /* longest header name we need to recognise */
#define HTTP_READBUF (32 * 1024) /* per-connection read buffer */
#define HTTP_XHDR_MAX 4096       /* extra response headers (http_add_header) */
#define HTTP_SSE_QUEUE_MAX ((size_t)4 * 1024 * 1024)
#define HTTP_WQ_PAUSE ((size_t)1024 * 1024) /* unsent answers before pipelining pauses */
#define HTTP_REQ_TIMEOUT_MS 30000 /* headers must complete, and a body keep moving, within */

/* ---- A capped growing buffer. */

struct dynbuf {
    uint8_t *p;
    size_t len, cap, max; /* len <= max always; p, when set, has room for len + NUL */
};

static int dyn_add(struct dynbuf *b, const void *data, size_t n)
{
    if (n > b->max - b->len) return -E2BIG;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n + 1)
            nc *= 2;
        if (nc > b->max + 1) nc = b->max + 1;
        uint8_t *np = realloc(b->p, nc);
        if (!np) return -ENOMEM;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static void dyn_reset(struct dynbuf *b)
{
    b->len = 0;
    if (b->p) b->p[0] = '\0';
    /* A large body buffer is not kept between requests on an idle connection. */
    if (b->cap > 64 * 1024) {
        free(b->p);
        b->p = NULL;
        b->cap = 0;
    }
}

static void dyn_free(struct dynbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---- Percent-decoding. */

static int hexv(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes in[0..n) into out (outlen includes the NUL). Returns the decoded length, -EINVAL for
 * a bad escape or a decoded NUL, -ENOSPC when it does not fit. */
static int pct_decode(const char *in, size_t n, bool plus_space, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)in[i];
        if (ch == '%') {
            if (n - i < 3) return -EINVAL;
            int hi = hexv((unsigned char)in[i + 1]), lo = hexv((unsigned char)in[i + 2]);
            if (hi < 0 || lo < 0) return -EINVAL;
            ch = hi * 16 + lo;
            i += 2;
        } else if (ch == '+' && plus_space) {
            ch = ' ';
        }
        if (ch == 0) return -EINVAL;
        if (o + 1 >= outlen) return -ENOSPC;
        out[o++] = (char)ch;
    }
    if (outlen == 0) return -ENOSPC;
    out[o] = '\0';
    return o > INT_MAX ? -ENOSPC : (int)o;
}

int http_query_get(const char *query, const char *name, char *out, size_t outlen)
{
    if (outlen > 0) out[0] = '\0';
    if (!query || !name) return -ENOENT;
    size_t namelen = strlen(name);
    const char *s = query;
    while (*s) {
        const char *amp = strchr(s, '&');
        size_t plen = amp ? (size_t)(amp - s) : strlen(s);
        const char *eq = memchr(s, '=', plen);
        size_t klen = eq ? (size_t)(eq - s) : plen;
        char key[256];
        int kl = pct_decode(s, klen, true, key, sizeof key);
        if (kl >= 0 && (size_t)kl == namelen && memcmp(key, name, namelen) == 0) {
            const char *v = eq ? eq + 1 : s + plen;
            size_t vlen = eq ? plen - klen - 1 : 0;
            int rc = pct_decode(v, vlen, true, out, outlen);
            if (rc < 0 && outlen > 0) out[0] = '\0';
            return rc;
        }
        if (!amp) break;
        s = amp + 1;
    }
    return -ENOENT;
}

/* ---- The request parser. */

enum { PAUSE_NONE = 0, PAUSE_BEGIN, PAUSE_HEADERS, PAUSE_MESSAGE };
enum hdr_target { HDR_NONE = -1, HDR_AUTH = 0, HDR_CTYPE, HDR_LASTID, HDR_COUNT };
static const char *const hdr_names[HDR_COUNT] = {"authorization", "content-type", "last-event-id"};

struct http_reqparser {
    http_parser hp;
    http_parser_settings settings;
    struct http_limits lim;
    http_req_cb on_req;
    http_err_cb on_err;
    void *ctx;

    /* Hooks for the server (same file): message begun, headers complete. */
    void (*on_begin)(void *ctx);
    void (*on_headers)(void *ctx);

    struct dynbuf url;
    struct dynbuf body;
    char field[HTTP_FIELD_MAX + 1];
    size_t field_len;
    bool field_long;     /* the current name is longer than any we capture */
    bool last_was_value; /* http-parser alternates field and value data callbacks */
    int target;
    struct dynbuf hdr[HDR_COUNT];
    bool hdr_set[HDR_COUNT];
    bool headers_done;

    struct http_req req;
    uint8_t empty_body[1];

    bool failed;   /* on_err was called: no more input */
    bool finished; /* a request without keep-alive was delivered: input after it is ignored */
    bool stop_after_one;
    /* The header section is measured exactly by pausing http-parser where a message begins
     * and where its headers end (http-parser 2.9 keeps its own count private). */
    int pause_why;
    bool in_hdr;
    size_t hdr_count;
    /* Set by a callback that refused the input; reported after http_parser_execute. */
    int err_status;
    const char *err_code;
    char err_msg[160];
};

static void parser_set_err(struct http_reqparser *p, int status, const char *code, const char *fmt,
                           ...) __attribute__((format(printf, 4, 5)));
static void parser_set_err(struct http_reqparser *p, int status, const char *code, const char *fmt,
                           ...)
{
    if (p->err_status) return;
    p->err_status = status;
    p->err_code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err_msg, sizeof p->err_msg, fmt, ap);
    va_end(ap);
}

static struct http_reqparser *P(http_parser *hp)
{
    return (struct http_reqparser *)hp->data;
}

static void req_reset(struct http_reqparser *p)
{
    dyn_reset(&p->url);
    dyn_reset(&p->body);
    for (int i = 0; i < HDR_COUNT; i++) {
        dyn_reset(&p->hdr[i]);
        p->hdr_set[i] = false;
    }
    p->field_len = 0;
    p->field_long = false;
    p->last_was_value = true;
    p->target = HDR_NONE;
    p->headers_done = false;
}

static int cb_message_begin(http_parser *hp)
{
    struct http_reqparser *p = P(hp);
    req_reset(p);
    p->in_hdr = true;
    p->pause_why = PAUSE_BEGIN;
    http_parser_pause(hp, 1);
    if (p->on_begin) p->on_begin(p->ctx);
    return 0;
}

static int cb_url(http_parser *hp, const char *at, size_t len)
{
    struct http_reqparser *p = P(hp);
    int rc = dyn_add(&p->url, at, len);
    if (rc == -E2BIG) {
        parser_set_err(p, 431, "header_too_large", "request target over %zu bytes", p->url.max);
        return -1;
    }
    if (rc) {
        parser_set_err(p, 503, "unavailable", "out of memory");
        return -1;
    }
    return 0;
}

static int cb_header_field(http_parser *hp, const char *at, size_t len)
{
    struct http_reqparser *p = P(hp);
    if (p->headers_done) return 0; /* trailers are not captured */
    if (p->last_was_value) {
        p->field_len = 0;
        p->field_long = false;
        p->last_was_value = false;
    }
    if (p->field_long || len > HTTP_FIELD_MAX - p->field_len) {
        p->field_long = true;
        return 0;
    }
    memcpy(p->field + p->field_len, at, len);
    p->field_len += len;
    return 0;
}

static int cb_header_value(http_parser *hp, const char *at, size_t len)
{
    struct http_reqparser *p = P(hp);
    if (p->headers_done) return 0;
    if (!p->last_was_value) {
        p->last_was_value = true;
        p->target = HDR_NONE;
        if (!p->field_long) {
            for (int i = 0; i < HDR_COUNT; i++)
                if (p->field_len == strlen(hdr_names[i]) &&
                    strncasecmp(p->field, hdr_names[i], p->field_len) == 0) {
                    p->target = i;
                    break;
                }
        }
        if (p->target != HDR_NONE) {
            /* A repeated header replaces the earlier value. */
            p->hdr[p->target].len = 0;
            p->hdr_set[p->target] = true;
            if (dyn_add(&p->hdr[p->target], "", 0)) {
                parser_set_err(p, 503, "unavailable", "out of memory");
                return -1;
            }
        }
    }
    if (p->target == HDR_NONE) return 0;
    int rc = dyn_add(&p->hdr[p->target], at, len);
    if (rc == -E2BIG) {
        parser_set_err(p, 431, "header_too_large", "%s header over %d bytes", hdr_names[p->target],
                       HTTP_HDRVAL_MAX);
        return -1;
    }
    if (rc) {
        parser_set_err(p, 503, "unavailable", "out of memory");
        return -1;
    }
    return 0;
}

/* Splits the URL into a decoded path and the raw query. */
static int split_url(struct http_reqparser *p)
{
    const char *u = p->url.p ? (const char *)p->url.p : "";
    size_t n = p->url.len;
    struct http_parser_url pu;
    http_parser_url_init(&pu);
    if (n == 0 || http_parser_parse_url(u, n, 0, &pu) != 0) {
        parser_set_err(p, 400, "bad_request", "malformed request target");
        return -1;
    }
    const char *path = "/";
    size_t plen = 1;
    if (pu.field_set & (1 << UF_PATH)) {
        path = u + pu.field_data[UF_PATH].off;
        plen = pu.field_data[UF_PATH].len;
    }
    int rc = pct_decode(path, plen, false, p->req.path, sizeof p->req.path);
    if (rc == -ENOSPC) {
        parser_set_err(p, 431, "header_too_large", "path over %d bytes", HTTP_PATH_MAX - 1);
        return -1;
    }
    if (rc < 0) {
        parser_set_err(p, 400, "bad_request", "bad percent-encoding in path");
        return -1;
    }
    p->req.query = NULL;
    if (pu.field_set & (1 << UF_QUERY)) {
        /* The URL buffer is ours: terminate the query in place (it is not reused). */
        char *q = (char *)p->url.p + pu.field_data[UF_QUERY].off;
        q[pu.field_data[UF_QUERY].len] = '\0';
        p->req.query = q;
    } else if (memchr(u, '?', n)) {
        p->req.query = (char *)p->url.p + n; /* "?" with nothing after: empty query */
    }
    return 0;
}

static int cb_headers_complete(http_parser *hp)
{
    struct http_reqparser *p = P(hp);
    p->headers_done = true;
    p->in_hdr = false;
    p->pause_why = PAUSE_HEADERS;
    http_parser_pause(hp, 1);
    if (hp->http_major != 1) {
        parser_set_err(p, 400, "bad_request", "HTTP version %u.%u is not supported", hp->http_major,
                       hp->http_minor);
        return -1;
    }
    switch (hp->method) {
    case HTTP_GET:
        p->req.verb = HTTP_VERB_GET;
        break;
    case HTTP_POST:
        p->req.verb = HTTP_VERB_POST;
        break;
    case HTTP_HEAD:
        p->req.verb = HTTP_VERB_HEAD;
        break;
    default:
        p->req.verb = HTTP_VERB_OTHER;
        break;
    }
    if (split_url(p)) return -1;
    if (!(hp->flags & F_CHUNKED) && hp->content_length != ULLONG_MAX &&
        hp->content_length > p->lim.max_body) {
        parser_set_err(p, 413, "payload_too_large", "body over %zu bytes", p->lim.max_body);
        return -1;
    }
    if (!(hp->flags & F_CHUNKED) && hp->content_length != ULLONG_MAX && hp->content_length > 0) {
        /* Reserve the exact size at once: the cap was checked above. */
        size_t want = (size_t)hp->content_length + 1;
        if (want > p->body.cap) {
            uint8_t *nb = realloc(p->body.p, want);
            if (!nb) {
                parser_set_err(p, 503, "unavailable", "out of memory");
                return -1;
            }
            p->body.p = nb;
            p->body.cap = want;
        }
    }
    if (p->on_headers) p->on_headers(p->ctx);
    return 0;
}

static int cb_body(http_parser *hp, const char *at, size_t len)
{
    struct http_reqparser *p = P(hp);
    int rc = dyn_add(&p->body, at, len);
    if (rc == -E2BIG) {
        parser_set_err(p, 413, "payload_too_large", "body over %zu bytes", p->lim.max_body);
        return -1;
    }
    if (rc) {
        parser_set_err(p, 503, "unavailable", "out of memory");
        return -1;
    }
    return 0;
}

static int cb_message_complete(http_parser *hp)
{
    struct http_reqparser *p = P(hp);
    struct http_req *r = &p->req;
    r->authorization = p->hdr_set[HDR_AUTH] ? (char *)p->hdr[HDR_AUTH].p : NULL;
    r->content_type = p->hdr_set[HDR_CTYPE] ? (char *)p->hdr[HDR_CTYPE].p : NULL;
    r->last_event_id = p->hdr_set[HDR_LASTID] ? (char *)p->hdr[HDR_LASTID].p : NULL;
    if (p->body.p && p->body.len) {
        r->body = p->body.p;
    } else {
        p->empty_body[0] = 0;
        r->body = p->empty_body;
    }
    r->body_len = p->body.len;
    /* An upgrade (or CONNECT) is not supported: answer it, then close. */
    r->keep_alive = http_should_keep_alive(hp) && !hp->upgrade;
    /* Pausing returns from http_parser_execute right after this message: the server wants
     * one request at a time, and after a closing request the rest is ignored. */
    if (!r->keep_alive) p->finished = true;
    p->pause_why = PAUSE_MESSAGE;
    http_parser_pause(hp, 1);
    p->on_req(p->ctx, r);
    return 0;
}

int http_reqparser_new(struct http_reqparser **out, const struct http_limits *lim,
                       http_req_cb on_req, http_err_cb on_err, void *ctx)
{
    *out = NULL;
    struct http_reqparser *p = calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    p->lim.max_header = lim && lim->max_header ? lim->max_header : HTTP_HEADER_MAX;
    p->lim.max_body = lim && lim->max_body ? lim->max_body : HTTP_DEFAULT_MAX_BODY;
    p->on_req = on_req;
    p->on_err = on_err;
    p->ctx = ctx;
    /* http_parser_parse_url keeps offsets in 16 bits. */
    p->url.max = p->lim.max_header < 65535 ? p->lim.max_header : 65535;
    p->body.max = p->lim.max_body;
    for (int i = 0; i < HDR_COUNT; i++)
        p->hdr[i].max = HTTP_HDRVAL_MAX;
    http_parser_settings_init(&p->settings);
    p->settings.on_message_begin = cb_message_begin;
    p->settings.on_url = cb_url;
    p->settings.on_header_field = cb_header_field;
    p->settings.on_header_value = cb_header_value;
    p->settings.on_headers_complete = cb_headers_complete;
    p->settings.on_body = cb_body;
    p->settings.on_message_complete = cb_message_complete;
    http_parser_init(&p->hp, HTTP_REQUEST);
    p->hp.data = p;
    req_reset(p);
    *out = p;
    return 0;
}

void http_reqparser_free(struct http_reqparser *p)
{
    if (!p) return;
    dyn_free(&p->url);
    dyn_free(&p->body);
    for (int i = 0; i < HDR_COUNT; i++)
        dyn_free(&p->hdr[i]);
    free(p);
}

static void parser_fail(struct http_reqparser *p, int status, const char *code, const char *msg)
{
    p->failed = true;
    if (p->on_err) p->on_err(p->ctx, status, code, msg);
}

static int header_overflow(struct http_reqparser *p)
{
    char m[96];
    snprintf(m, sizeof m, "request line and headers over %zu bytes", p->lim.max_header);
    parser_fail(p, 431, "header_too_large", m);
    return -EPROTO;
}

/*
 * Feeds bytes, stopping after one complete request when p->stop_after_one (the server), else
 * taking everything. *used is how much of buf was consumed. Returns 0 or -EPROTO after on_err.
 */
static int parser_feed(struct http_reqparser *p, const uint8_t *buf, size_t len, size_t *used)
{
    *used = 0;
    if (p->failed) return -EPROTO;
    size_t off = 0;
    while (off < len && !p->finished) {
        p->pause_why = PAUSE_NONE;
        bool was_in_hdr = p->in_hdr;
        size_t n = http_parser_execute(&p->hp, &p->settings, (const char *)buf + off, len - off);
        enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
        if (e == HPE_PAUSED) {
            http_parser_pause(&p->hp, 0);
            e = HPE_OK;
        }
        off += n;
        *used = off;
        if (e != HPE_OK) {
            if (p->err_status) {
                parser_fail(p, p->err_status, p->err_code, p->err_msg);
            } else if (e == HPE_HEADER_OVERFLOW) {
                return header_overflow(p);
            } else {
                char m[160];
                snprintf(m, sizeof m, "malformed HTTP: %s", http_errno_description(e));
                parser_fail(p, 400, "bad_request", m);
            }
            return -EPROTO;
        }
        switch (p->pause_why) {
        case PAUSE_BEGIN:
            p->hdr_count = 1; /* the method's first byte was consumed */
            break;
        case PAUSE_HEADERS:
            p->hdr_count += n + 1; /* up to and including the final LF */
            if (p->hdr_count > p->lim.max_header) return header_overflow(p);
            break;
        case PAUSE_MESSAGE:
            if (p->stop_after_one) {
                if (p->finished) *used = len;
                return 0;
            }
            break;
        default:
            if (was_in_hdr) {
                p->hdr_count += n;
                if (p->hdr_count > p->lim.max_header) return header_overflow(p);
            }
            if (n == 0) return 0; /* not expected: http-parser takes all or fails */
            break;
        }
    }
    if (p->finished) *used = len; /* after a closing request the rest is ignored */
    return 0;
}

int http_reqparser_feed(struct http_reqparser *p, const uint8_t *buf, size_t len)
{
    size_t used;
    return parser_feed(p, buf, len, &used);
}

/* ---- The server. */

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    struct http_server_opts opts;
    http_handler handler;
    void *ctx;
    struct http_conn *conns; /* every connection with open handles */
    unsigned nconns;
    bool listener_open;
    bool stopping;
    void (*done)(void *);
    void *done_arg;
};

struct http_conn {
    struct http_server *srv; /* NULL once its handles are closed */
    struct http_conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer;
    int handles; /* open handles (tcp, timer) */
    struct http_reqparser *parser;

    uint8_t *buf; /* read buffer: unparsed bytes are buf[off..len) */
    size_t off, len;
    bool reading;
    bool processing; /* inside conn_process: do not re-enter */

    bool in_flight; /* a request awaits its answer */
    bool head;      /* the request in flight is HEAD */
    bool keep_alive;
    bool closing;    /* handles closing or closed */
    bool in_request; /* a request has begun and is not complete */
    bool in_headers; /* ... and its header section is not complete */

    bool sse;
    http_stream_close_cb sse_close;
    void *sse_ctx;
    size_t queued; /* bytes written but not yet confirmed (streams) */

    char xhdr[HTTP_XHDR_MAX];
    size_t xhdr_len;
};

struct wreq {
    uv_write_t w;
    struct http_conn *c;
    bool close_after;
    size_t len;
    char data[];
};

static void conn_close(struct http_conn *c);
static void conn_process(struct http_conn *c);
static void conn_read_stop(struct http_conn *c);

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 507:
        return "Insufficient Storage";
    default:
        return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

static void conn_maybe_free(struct http_conn *c)
{
    if (c->handles > 0 || c->in_flight) return;
    http_reqparser_free(c->parser);
    free(c->buf);
    free(c);
}

static void server_maybe_done(struct http_server *s)
{
    if (!s->stopping || s->listener_open || s->conns) return;
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    free(s);
    if (done) done(arg);
}

static void conn_handle_closed(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    if (--c->handles > 0) return;
    struct http_server *s = c->srv;
    if (s) {
        if (c->prev)
            c->prev->next = c->next;
        else
            s->conns = c->next;
        if (c->next) c->next->prev = c->prev;
        s->nconns--;
        c->srv = NULL;
    }
    if (c->sse && c->sse_close) {
        http_stream_close_cb cb = c->sse_close;
        c->sse_close = NULL;
        cb(c->sse_ctx, c);
    }
    conn_maybe_free(c);
    if (s) server_maybe_done(s);
}

static void conn_close(struct http_conn *c)
{
    if (c->closing) return;
    c->closing = true;
    c->reading = false;
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void on_timeout(uv_timer_t *t)
{
    struct http_conn *c = t->data;
    if (!c->in_flight && !c->sse) conn_close(c);
}

static void timer_set(struct http_conn *c, uint64_t ms)
{
    if (c->closing) return;
    uv_timer_start(&c->timer, on_timeout, ms, 0);
}

static void on_write(uv_write_t *w, int status)
{
    struct wreq *r = (struct wreq *)w;
    struct http_conn *c = r->c;
    c->queued -= r->len;
    bool close_after = r->close_after;
    free(r);
    if (status < 0 || close_after) {
        conn_close(c);
        return;
    }
    /* A client that pipelines without reading its answers was paused; go on once they drain. */
    if (!c->closing && !c->sse && !c->in_flight && !c->reading && c->queued <= HTTP_WQ_PAUSE)
        conn_process(c);
}

/* Queues len bytes (copied). Returns 0 or a negative uv error (the connection is then closed). */
static int conn_write(struct http_conn *c, const char *hdr, size_t hlen, const char *body,
                      size_t blen, bool close_after)
{
    if (c->closing) return -EPIPE;
    struct wreq *r = malloc(sizeof *r + hlen + blen);
    if (!r) {
        conn_close(c);
        return -ENOMEM;
    }
    r->c = c;
    r->close_after = close_after;
    r->len = hlen + blen;
    memcpy(r->data, hdr, hlen);
    if (blen) memcpy(r->data + hlen, body, blen);
    uv_buf_t b = uv_buf_init(r->data, (unsigned)r->len);
    int rc = uv_write(&r->w, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        free(r);
        conn_close(c);
        return rc;
    }
    c->queued += r->len;
    return 0;
}

static size_t json_escape(char *out, size_t outlen, const char *s)
{
    size_t o = 0;
    for (; *s && o + 7 < outlen; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(out + o, outlen - o, "\\u%04x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = '\0';
    return o;
}

static void send_response(struct http_conn *c, int status, const char *ctype, const char *body,
                          size_t len, bool keep_alive)
{
    char hdr[HTTP_XHDR_MAX + 512];
    int n = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: %s\r\n%.*s\r\n",
                     status, reason(status), ctype ? ctype : "application/json", len,
                     keep_alive ? "keep-alive" : "close", (int)c->xhdr_len, c->xhdr);
    c->xhdr_len = 0;
    if (n < 0 || (size_t)n >= sizeof hdr) {
        conn_close(c);
        return;
    }
    conn_write(c, hdr, (size_t)n, body, c->head ? 0 : len, !keep_alive);
}

static void conn_on_err(void *ctx, int status, const char *code, const char *message)
{
    struct http_conn *c = ctx;
    char m[256], body[400];
    json_escape(m, sizeof m, message);
    int n =
        snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, m);
    c->head = false;
    c->xhdr_len = 0;
    send_response(c, status, "application/json", body, (size_t)n, false);
}

static void conn_on_begin(void *ctx)
{
    struct http_conn *c = ctx;
    c->in_request = true;
    c->in_headers = true;
    timer_set(c, HTTP_REQ_TIMEOUT_MS); /* absolute deadline for the header section */
}

static void conn_on_headers(void *ctx)
{
    struct http_conn *c = ctx;
    c->in_headers = false;
    timer_set(c, HTTP_REQ_TIMEOUT_MS);
}

static void conn_on_req(void *ctx, const struct http_req *req)
{
    struct http_conn *c = ctx;
    c->in_flight = true;
    c->in_request = false;
    c->in_headers = false;
    c->head = req->verb == HTTP_VERB_HEAD;
    c->keep_alive = req->keep_alive;
    c->xhdr_len = 0;
    uv_timer_stop(&c->timer);
    c->srv->handler(c->srv->ctx, c, req);
    /* Reading stops only for an answer that comes later (a write, a media job): most are
     * given inside the handler, and stopping and restarting the read cost epoll_ctl calls
     * on every request (measured: docs/performance.md). Nothing is read before this point:
     * we are inside the read callback. */
    if (c->in_flight) conn_read_stop(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct http_conn *c = h->data;
    if (c->sse || c->off == c->len) {
        /* Streams read only to notice the close; the bytes are dropped. */
        c->off = c->len = 0;
        *b = uv_buf_init((char *)c->buf, HTTP_READBUF);
    } else {
        *b = uv_buf_init(NULL, 0); /* unreachable: reading stops while bytes wait */
    }
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    (void)b;
    struct http_conn *c = st->data;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread == 0 || c->closing) return;
    if (c->sse) {
        c->off = c->len = 0;
        return;
    }
    c->off = 0;
    c->len = (size_t)nread;
    /* A body that keeps arriving keeps the connection; headers have their own deadline. */
    if (c->in_request && !c->in_headers) timer_set(c, HTTP_REQ_TIMEOUT_MS);
    conn_process(c);
}

static void conn_read_stop(struct http_conn *c)
{
    if (!c->reading) return;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
}

static void conn_read_start(struct http_conn *c)
{
    if (c->reading || c->closing) return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
    else
        conn_close(c);
}

/* Parses buffered bytes, one request at a time, until a request is in flight or the buffer is
 * empty; then reads on. */
static void conn_process(struct http_conn *c)
{
    if (c->processing) return;
    c->processing = true;
    while (!c->closing && !c->in_flight && !c->sse && c->off < c->len &&
           c->queued <= HTTP_WQ_PAUSE) {
        size_t used = 0;
        int rc = parser_feed(c->parser, c->buf + c->off, c->len - c->off, &used);
        c->off += used;
        if (rc < 0) break; /* the error was answered; the connection closes */
        if (used == 0) break;
    }
    if (c->off >= c->len) c->off = c->len = 0;
    if (c->closing || c->sse) {
        /* nothing to do */
    } else if (c->parser->failed || c->parser->finished) {
        conn_read_stop(c); /* the last answer is written, then the connection closes */
    } else if (!c->in_flight) {
        if (c->srv && c->srv->stopping) {
            conn_close(c);
        } else if (c->queued > HTTP_WQ_PAUSE) {
            conn_read_stop(c); /* on_write resumes */
            if (!c->in_request) timer_set(c, (uint64_t)c->srv->opts.idle_timeout_s * 1000);
        } else if (c->off == c->len) {
            if (!c->in_request) {
                /* Between requests: the keep-alive idle timeout runs. */
                timer_set(c, (uint64_t)c->srv->opts.idle_timeout_s * 1000);
            }
            conn_read_start(c);
        }
    }
    c->processing = false;
}

static void on_reject_closed(uv_handle_t *h)
{
    free(h);
}

static void on_connection(uv_stream_t *ls, int status)
{
    struct http_server *s = ls->data;
    if (status < 0 || s->stopping) return;
    if (s->nconns >= s->opts.max_conns) {
        uv_tcp_t *t = malloc(sizeof *t);
        if (!t) return;
        uv_tcp_init(s->loop, t);
        uv_accept(ls, (uv_stream_t *)t);
        uv_close((uv_handle_t *)t, on_reject_closed);
        return;
    }
    struct http_conn *c = calloc(1, sizeof *c);
    uint8_t *buf = malloc(HTTP_READBUF);
    if (!c || !buf) {
        free(c);
        free(buf);
        return;
    }
    c->buf = buf;
    if (http_reqparser_new(&c->parser, &s->opts.limits, conn_on_req, conn_on_err, c)) {
        free(buf);
        free(c);
        return;
    }
    c->parser->stop_after_one = true;
    c->parser->on_begin = conn_on_begin;
    c->parser->on_headers = conn_on_headers;
    c->srv = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles = 2;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    timer_set(c, (uint64_t)s->opts.idle_timeout_s * 1000);
    conn_read_start(c);
}

static void on_listener_closed(uv_handle_t *h)
{
    struct http_server *s = h->data;
    s->listener_open = false;
    server_maybe_done(s);
}

int http_server_start(struct http_server **out, uv_loop_t *loop,
                      const struct http_server_opts *opts, http_handler h, void *ctx, char *err,
                      size_t errlen)
{
    *out = NULL;
    if (errlen) err[0] = '\0';
    struct sockaddr_storage ss;
    const char *host = opts->host && *opts->host ? opts->host : "127.0.0.1";
    if (opts->port < 0 || opts->port > 65535) {
        snprintf(err, errlen, "port %d is out of range", opts->port);
        return UV_EINVAL;
    }
    if (uv_ip4_addr(host, opts->port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, opts->port, (struct sockaddr_in6 *)&ss) != 0) {
        snprintf(err, errlen, "'%s' is not an IPv4 or IPv6 address", host);
        return UV_EINVAL;
    }
    struct http_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return UV_ENOMEM;
    }
    s->loop = loop;
    s->opts = *opts;
    s->opts.host = NULL; /* not kept: the caller owns it */
    if (!s->opts.max_conns) s->opts.max_conns = 1024;
    if (!s->opts.idle_timeout_s) s->opts.idle_timeout_s = 60;
    if (!s->opts.limits.max_header) s->opts.limits.max_header = HTTP_HEADER_MAX;
    if (!s->opts.limits.max_body) s->opts.limits.max_body = HTTP_DEFAULT_MAX_BODY;
    s->handler = h;
    s->ctx = ctx;
    int rc = uv_tcp_init(loop, &s->listener);
    if (rc) {
        snprintf(err, errlen, "cannot create a socket: %s", uv_strerror(rc));
        free(s);
        return rc;
    }
    s->listener.data = s;
    s->listener_open = true;
    rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
    if (rc) {
        snprintf(err, errlen, "cannot listen on %s port %d: %s", host, opts->port, uv_strerror(rc));
        /* The handle is released by its close callback when the loop next runs. */
        s->stopping = true;
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
        return rc;
    }
    *out = s;
    return 0;
}

int http_server_port(const struct http_server *s)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

void http_server_stop(struct http_server *s, void (*done)(void *arg), void *arg)
{
    if (s->stopping) return;
    s->stopping = true;
    s->done = done;
    s->done_arg = arg;
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    for (struct http_conn *c = s->conns; c; c = c->next)
        conn_close(c);
}

void http_add_header(struct http_conn *c, const char *line)
{
    size_t n = strlen(line);
    /* A header line may not smuggle a line break into the response. */
    if (strpbrk(line, "\r\n") || n + 2 > sizeof c->xhdr - c->xhdr_len) return;
    memcpy(c->xhdr + c->xhdr_len, line, n);
    memcpy(c->xhdr + c->xhdr_len + n, "\r\n", 2);
    c->xhdr_len += n + 2;
}

void http_respond(struct http_conn *c, int status, const char *content_type, const char *body,
                  size_t len)
{
    if (!c->in_flight) return; /* not a request's answer: ignore */
    c->in_flight = false;
    if (c->closing) {
        /* The client left or the server stopped: the answer is dropped. */
        conn_maybe_free(c);
        return;
    }
    bool ka = c->keep_alive && !(c->srv && c->srv->stopping);
    send_response(c, status, content_type, body, len, ka);
    c->head = false;
    if (ka) conn_process(c);
}

int http_sse_begin(struct http_conn *c, http_stream_close_cb on_close, void *ctx)
{
    if (!c->in_flight) return -EINVAL;
    c->in_flight = false;
    c->xhdr_len = 0;
    if (c->closing) {
        /* Gone already: no stream, and on_close is not called since this fails. */
        conn_maybe_free(c);
        return -EPIPE;
    }
    static const char hdr[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                              "Cache-Control: no-cache\r\nConnection: keep-alive\r\n\r\n";
    int rc = conn_write(c, hdr, sizeof hdr - 1, NULL, 0, false);
    if (rc < 0) return rc; /* the connection closes; on_close is not set so not called */
    c->sse = true;
    c->sse_close = on_close;
    c->sse_ctx = ctx;
    c->off = c->len = 0; /* pipelined bytes after a stream request are dropped */
    uv_timer_stop(&c->timer);
    conn_read_start(c);
    return 0;
}

int http_sse_send(struct http_conn *c, const char *text, size_t len)
{
    if (!c->sse || c->closing) return -EPIPE;
    if (len > HTTP_SSE_QUEUE_MAX - c->queued) {
        conn_close(c);
        return -ENOBUFS;
    }
    return conn_write(c, text, len, NULL, 0, false);
}
