/*
 * A small HTTP/1.1 server on libuv and http-parser: keep-alive, hard caps on headers and
 * body, one request in flight per connection (reading pauses until it is answered),
 * asynchronous responses, and server-sent-event streams.
 *
 * The request parser is usable without sockets (http_reqparser_*) so that tests and the
 * fuzz harness can drive it with bytes.
 */
#ifndef GIF_NODE_HTTP_H
#define GIF_NODE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define HTTP_HEADER_MAX (16 * 1024) /* request line + headers, bytes */
#define HTTP_PATH_MAX 2048

enum http_verb { HTTP_VERB_OTHER = 0, HTTP_VERB_GET, HTTP_VERB_POST, HTTP_VERB_HEAD };

struct http_req {
    enum http_verb verb;
    char path[HTTP_PATH_MAX]; /* percent-decoded path without the query, NUL-terminated */
    char *query;              /* raw query string (after '?'), NUL-terminated, or NULL */
    char *authorization;      /* header values, NUL-terminated, or NULL when absent */
    char *content_type;
    char *last_event_id;
    uint8_t *body; /* NUL-terminated for convenience; body_len excludes the NUL */
    size_t body_len;
    bool keep_alive;
};

/*
 * Finds parameter name in a raw query string and percent-decodes its value into out (NUL-
 * terminated). Returns the decoded length, -ENOENT when absent, or -ENOSPC if it does not fit.
 */
int http_query_get(const char *query, const char *name, char *out, size_t outlen);

/* ---- The socket-free request parser. */

struct http_reqparser;
struct http_limits {
    size_t max_header; /* default HTTP_HEADER_MAX */
    size_t max_body;   /* default 16 MiB */
};
/* Called for each complete request; req and its memory are valid only during the call. */
typedef void (*http_req_cb)(void *ctx, const struct http_req *req);
/* Called once when the input is not acceptable HTTP: status is 400, 413 or 431 and code the
 * JSON error code ("bad_request", "payload_too_large", "header_too_large"). After it the
 * parser accepts no more input. */
typedef void (*http_err_cb)(void *ctx, int status, const char *code, const char *message);

int http_reqparser_new(struct http_reqparser **out, const struct http_limits *lim,
                       http_req_cb on_req, http_err_cb on_err, void *ctx);
void http_reqparser_free(struct http_reqparser *p);
/* Feeds bytes; calls on_req for each complete request. Returns 0, or -EPROTO after on_err. */
int http_reqparser_feed(struct http_reqparser *p, const uint8_t *buf, size_t len);

/* ---- The server. */

struct http_server;
struct http_conn;

/*
 * A request arrived on c. The handler must answer it exactly once, now or later, with
 * http_respond or http_sse_begin. req is valid only during the call: copy what a later answer
 * needs. If the client goes away before the answer, c stays valid until it is answered (the
 * answer is then discarded).
 */
typedef void (*http_handler)(void *ctx, struct http_conn *c, const struct http_req *req);

struct http_server_opts {
    const char *host; /* e.g. "127.0.0.1" */
    int port;         /* 0 picks a free port (see http_server_port) */
    struct http_limits limits;
    unsigned max_conns;      /* default 1024; beyond it new connections are closed */
    unsigned idle_timeout_s; /* keep-alive idle timeout, default 60 */
};

/* Starts listening. Returns 0, or a negative uv error with a sentence in err. */
int http_server_start(struct http_server **out, uv_loop_t *loop,
                      const struct http_server_opts *opts, http_handler h, void *ctx, char *err,
                      size_t errlen);
int http_server_port(const struct http_server *s);
/* Stops listening and closes every connection (streams included); calls done(arg) once all
 * handles are closed and the server is freed. Connections awaiting an answer are closed
 * when answered. */
void http_server_stop(struct http_server *s, void (*done)(void *arg), void *arg);

/* Sends a complete response with Content-Length; body is copied. */
void http_respond(struct http_conn *c, int status, const char *content_type, const char *body,
                  size_t len);
/* Extra response header for the next http_respond on c, e.g. "WWW-Authenticate: Bearer". */
void http_add_header(struct http_conn *c, const char *line);

/*
 * Turns c into a server-sent-event stream (200, text/event-stream, no Content-Length). The
 * stream lives until the client closes it or the server stops; on_close(ctx, c) is then
 * called once, after which c must not be used. Returns 0 or a negative code.
 */
typedef void (*http_stream_close_cb)(void *ctx, struct http_conn *c);
int http_sse_begin(struct http_conn *c, http_stream_close_cb on_close, void *ctx);
/*
 * Queues raw event text (already formatted: "id: ..\nevent: ..\ndata: ..\n\n") on a stream.
 * If more than 4 MiB is queued unsent (a slow client), the stream is closed instead and
 * -ENOBUFS returned.
 */
int http_sse_send(struct http_conn *c, const char *text, size_t len);

#endif
