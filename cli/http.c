/* The blocking HTTP/1.1 client; see http.h. */
#include "cli/http.h"

#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct ctl_http {
    char host[256];
    char port[8];
    char prefix[512]; /* path prefix of the base URL, without a trailing '/' */
    char hosthdr[300];
    int fd;      /* -1 when not connected */
    bool reused; /* the connection already carried an answer */
};

int ctl_http_new(struct ctl_http **out, const char *url, char *err, size_t errlen)
{
    *out = NULL;
    const char *p = url;
    if (strncmp(p, "http://", 7) == 0) {
        p += 7;
    } else if (strstr(p, "://")) {
        snprintf(err, errlen, "'%s': only http:// URLs are supported", url);
        return -EINVAL;
    }
    struct ctl_http *h = calloc(1, sizeof *h);
    if (!h) return -ENOMEM;
    h->fd = -1;
    const char *slash = strchr(p, '/');
    size_t hostlen = slash ? (size_t)(slash - p) : strlen(p);
    const char *hp = p, *colon = NULL;
    size_t hl = hostlen;
    if (hp[0] == '[') { /* [::1]:7480 */
        const char *rb = memchr(hp, ']', hostlen);
        if (!rb) goto bad;
        hp++;
        hl = (size_t)(rb - hp);
        if (rb + 1 < p + hostlen) {
            if (rb[1] != ':') goto bad;
            colon = rb + 1;
        }
    } else {
        colon = memchr(hp, ':', hostlen);
        if (colon) hl = (size_t)(colon - hp);
    }
    if (hl == 0 || hl >= sizeof h->host) goto bad;
    memcpy(h->host, hp, hl);
    if (colon) {
        size_t pl = (size_t)(p + hostlen - colon - 1);
        if (pl == 0 || pl >= sizeof h->port) goto bad;
        memcpy(h->port, colon + 1, pl);
        if (strspn(h->port, "0123456789") != pl || atoi(h->port) > 65535) goto bad;
    } else {
        strcpy(h->port, "80");
    }
    if (slash) {
        size_t n = strlen(slash);
        while (n > 0 && slash[n - 1] == '/')
            n--;
        if (n >= sizeof h->prefix) goto bad;
        memcpy(h->prefix, slash, n);
    }
    snprintf(h->hosthdr, sizeof h->hosthdr, "%.*s", (int)hostlen, p);
    *out = h;
    return 0;
bad:
    snprintf(err, errlen, "'%s' is not a URL like http://127.0.0.1:7480", url);
    free(h);
    return -EINVAL;
}

static void disconnect(struct ctl_http *h)
{
    if (h->fd >= 0) close(h->fd);
    h->fd = -1;
    h->reused = false;
}

void ctl_http_close(struct ctl_http *h)
{
    if (!h) return;
    disconnect(h);
    free(h);
}

void ctl_resp_free(struct ctl_resp *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

/* Connects to one address with a timeout: a blocking connect can hang for minutes on a
 * filtered port, and an engineer waiting on gifctl deserves an answer in seconds. */
static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) return -errno;
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            int e = -errno;
            close(fd);
            return e;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int r = poll(&pfd, 1, timeout_ms);
        if (r <= 0) {
            close(fd);
            return r == 0 ? -ETIMEDOUT : -errno;
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr != 0) {
            close(fd);
            return -soerr;
        }
    }
    fcntl(fd, F_SETFL, fl);
    return fd;
}

static int ensure_connected(struct ctl_http *h, char *err, size_t errlen)
{
    if (h->fd >= 0) return 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(h->host, h->port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve '%s': %s", h->host, gai_strerror(gai));
        return -EHOSTUNREACH;
    }
    int rc = -ECONNREFUSED;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        rc = connect_one(ai, CTL_HTTP_CONNECT_MS);
        if (rc >= 0) break;
    }
    freeaddrinfo(res);
    if (rc < 0) {
        snprintf(err, errlen, "%s", strerror(-rc));
        return rc;
    }
    h->fd = rc;
    h->reused = false;
    return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Parser state for one answer. */
struct rstate {
    struct ctl_resp *resp;
    size_t cap;
    bool complete;
    bool stream; /* deliver a 2xx body to on_data instead of buffering it */
    ctl_http_data_cb on_data;
    void *ctx;
    int cbret;
    bool toobig;
};

static int on_headers_complete(http_parser *p)
{
    struct rstate *s = p->data;
    s->resp->status = p->status_code;
    if (s->on_data && p->status_code >= 200 && p->status_code < 300) s->stream = true;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct rstate *s = p->data;
    if (s->stream) {
        s->cbret = s->on_data(s->ctx, at, len);
        return s->cbret != 0;
    }
    struct ctl_resp *r = s->resp;
    if (r->len + len + 1 > s->cap) {
        if (r->len + len + 1 > CTL_HTTP_BODY_MAX) {
            s->toobig = true;
            return 1;
        }
        size_t ncap = s->cap ? s->cap : 4096;
        while (ncap < r->len + len + 1)
            ncap *= 2;
        if (ncap > CTL_HTTP_BODY_MAX) ncap = CTL_HTTP_BODY_MAX;
        char *nb = realloc(r->body, ncap);
        if (!nb) {
            s->toobig = true;
            return 1;
        }
        r->body = nb;
        s->cap = ncap;
    }
    memcpy(r->body + r->len, at, len);
    r->len += len;
    r->body[r->len] = '\0';
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct rstate *s = p->data;
    s->complete = true;
    http_parser_pause(p, 1); /* anything after it belongs to no request of ours */
    return 0;
}

/* Reads and parses one answer. *got is set when at least one byte arrived (so that a retry
 * on a stale keep-alive connection is safe only when it is false). */
static int read_answer(struct ctl_http *h, struct rstate *s, int idle_ms, bool *got, char *err,
                       size_t errlen)
{
    http_parser parser;
    http_parser_init(&parser, HTTP_RESPONSE);
    parser.data = s;
    http_parser_settings st;
    http_parser_settings_init(&st);
    st.on_headers_complete = on_headers_complete;
    st.on_body = on_body;
    st.on_message_complete = on_message_complete;
    char buf[65536];
    *got = false;
    while (!s->complete) {
        struct pollfd pfd = {.fd = h->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, idle_ms);
        if (pr < 0) {
            if (errno == EINTR) continue;
            snprintf(err, errlen, "%s", strerror(errno));
            return -errno;
        }
        if (pr == 0) {
            snprintf(err, errlen, "no answer within %d s", idle_ms / 1000);
            return -ETIMEDOUT;
        }
        ssize_t n = recv(h->fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            snprintf(err, errlen, "%s", strerror(e));
            return -e;
        }
        if (n > 0) *got = true;
        size_t done = http_parser_execute(&parser, &st, buf, (size_t)n);
        if (s->complete) break;
        if (s->cbret != 0) return s->cbret;
        if (s->toobig) {
            snprintf(err, errlen, "answer body over %u bytes", CTL_HTTP_BODY_MAX);
            return -EMSGSIZE;
        }
        if (parser.http_errno != HPE_OK || done != (size_t)n) {
            snprintf(err, errlen, "malformed HTTP answer: %s",
                     http_errno_description(HTTP_PARSER_ERRNO(&parser)));
            return -EPROTO;
        }
        if (n == 0) {
            /* EOF: fine for a body delimited by close (the parser completes it above). */
            snprintf(err, errlen, "connection closed before a complete answer");
            return -ECONNRESET;
        }
    }
    if (!http_should_keep_alive(&parser)) disconnect(h);
    return 0;
}

static char *build_head(const struct ctl_http *h, const char *method, const char *path,
                        const char *headers, bool has_body, size_t bodylen, const char *accept,
                        const char *ctype)
{
    size_t cap = strlen(method) + strlen(h->prefix) + strlen(path) + strlen(h->hosthdr) +
                 (headers ? strlen(headers) : 0) + strlen(ctype) + 256;
    char *head = malloc(cap);
    if (!head) return NULL;
    int n = snprintf(
        head, cap, "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: gifctl/%s\r\nAccept: %s\r\n%s",
        method, h->prefix, path, h->hosthdr, GIF_VERSION, accept, headers ? headers : "");
    if (has_body)
        snprintf(head + n, cap - (size_t)n, "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                 ctype, bodylen);
    else if (strcmp(method, "POST") == 0)
        snprintf(head + n, cap - (size_t)n, "Content-Length: 0\r\n\r\n");
    else
        snprintf(head + n, cap - (size_t)n, "\r\n");
    return head;
}

int ctl_http_request(struct ctl_http *h, const char *method, const char *path, const char *headers,
                     const char *body, size_t bodylen, struct ctl_resp *resp, char *err,
                     size_t errlen)
{
    return ctl_http_request_ct(h, method, path, headers, "application/json", body, bodylen, resp,
                               err, errlen);
}

int ctl_http_request_ct(struct ctl_http *h, const char *method, const char *path,
                        const char *headers, const char *ctype, const char *body, size_t bodylen,
                        struct ctl_resp *resp, char *err, size_t errlen)
{
    memset(resp, 0, sizeof *resp);
    char *head =
        build_head(h, method, path, headers, body != NULL, bodylen, "application/json", ctype);
    if (!head) return -ENOMEM;
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        bool was_reused = h->reused;
        rc = ensure_connected(h, err, errlen);
        if (rc != 0) break;
        rc = send_all(h->fd, head, strlen(head));
        if (rc == 0 && body) rc = send_all(h->fd, body, bodylen);
        bool got = false;
        struct rstate s = {.resp = resp};
        if (rc == 0) {
            rc = read_answer(h, &s, CTL_HTTP_READ_MS, &got, err, errlen);
        } else {
            snprintf(err, errlen, "%s", strerror(-rc));
        }
        if (rc == 0) {
            h->reused = h->fd >= 0;
            break;
        }
        ctl_resp_free(resp);
        resp->status = 0;
        disconnect(h);
        /* The node closed an idle keep-alive connection: nothing was processed, so the
         * request can be sent again on a fresh one. */
        if (!(was_reused && !got)) break;
    }
    free(head);
    if (rc == 0 && !resp->body) {
        resp->body = calloc(1, 1);
        if (!resp->body) return -ENOMEM;
    }
    return rc;
}

int ctl_http_stream(struct ctl_http *h, const char *path, const char *headers, int idle_ms,
                    ctl_http_data_cb on_data, void *ctx, struct ctl_resp *resp, char *err,
                    size_t errlen)
{
    memset(resp, 0, sizeof *resp);
    disconnect(h); /* a stream owns its connection to the end */
    char *head = build_head(h, "GET", path, headers, false, 0, "text/event-stream", "");
    if (!head) return -ENOMEM;
    int rc = ensure_connected(h, err, errlen);
    if (rc == 0) {
        rc = send_all(h->fd, head, strlen(head));
        if (rc != 0) snprintf(err, errlen, "%s", strerror(-rc));
    }
    free(head);
    if (rc == 0) {
        struct rstate s = {.resp = resp, .on_data = on_data, .ctx = ctx};
        bool got;
        rc = read_answer(h, &s, idle_ms, &got, err, errlen);
        /* A stream that ends cleanly is still a drop for the caller: report it so. */
        if (rc == 0 && s.stream) {
            snprintf(err, errlen, "the node closed the stream");
            rc = -ECONNRESET;
        }
    }
    disconnect(h);
    if (!resp->body) resp->body = calloc(1, 1);
    return rc;
}
