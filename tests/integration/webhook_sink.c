/*
 * A webhook receiver for tests/integration/test_webhook.sh: listens on 127.0.0.1, takes one
 * request per connection, checks X-Gifnet-Signature as docs/api.md "Webhooks" tells a
 * receiver to (HMAC-SHA256 with the shared secret over "<timestamp>.<body>", the timestamp
 * within 5 minutes of now), and appends each verified body as one line to the output file.
 *
 *   webhook_sink --secret S --out FILE [--port N] [--port-file F] [--fail N] [--hang]
 *                [--cert PEM --key PEM]
 *
 * --port 0 (the default) takes a free port and writes it to --port-file. --fail N answers
 * 500 to the first N requests (counted whether or not they verify). A request that does not
 * verify is answered 401 and its reason goes to stderr; every request is logged there. --hang
 * reads the first request and never answers (a receiver that stalls). With --cert and --key
 * the sink speaks https (TLS 1.2 or 1.3, that certificate chain and key; it asks for no client
 * certificate): each connection's handshake is logged ("TLS: TLSv1.3 ..." or "TLS handshake
 * failed: <OpenSSL's reason>", which names the alert a client that refused the certificate
 * sent). The HMAC here is OpenSSL's, independent of gifd's (libsodium's).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 16384
#define BODY_MAX (16 * 1024 * 1024)
#define REPLAY_WINDOW_S 300

static void usage(void)
{
    fprintf(stderr, "usage: webhook_sink --secret S --out FILE [--port N] [--port-file F] "
                    "[--fail N] [--hang] [--cert PEM --key PEM]\n");
    exit(2);
}

/* The value of header `name` in the header block (lines after the request line), or NULL. */
static const char *header(char *head, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    for (char *line = strstr(head, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        char *l = line + 2;
        if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            char *v = l + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t n = strcspn(v, "\r\n");
            while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
                n--;
            if (n >= outlen) return NULL;
            memcpy(out, v, n);
            out[n] = '\0';
            return out;
        }
    }
    return NULL;
}

/* One connection: a socket, and its TLS session in https mode. */
struct io {
    int fd;
    SSL *ssl;
};

static ssize_t io_read(struct io *c, void *buf, size_t n)
{
    if (!c->ssl) return read(c->fd, buf, n);
    size_t got = 0;
    return SSL_read_ex(c->ssl, buf, n, &got) == 1 ? (ssize_t)got : -1;
}

static void io_write(struct io *c, const void *buf, size_t n)
{
    if (c->ssl) {
        size_t w = 0;
        SSL_write_ex(c->ssl, buf, n, &w);
        return;
    }
    ssize_t w = write(c->fd, buf, n);
    (void)w;
}

static void answer(struct io *c, int code, const char *reason)
{
    char buf[256];
    int n =
        snprintf(buf, sizeof buf,
                 "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", code, reason);
    io_write(c, buf, (size_t)n);
}

/* Checks the signature; returns NULL when it verifies, else why not. */
static const char *verify(const char *secret, const char *ts, const char *sig, const char *body,
                          size_t len)
{
    if (!ts || !sig) return "no X-Gifnet-Timestamp or X-Gifnet-Signature";
    char *end;
    errno = 0;
    long long t = strtoll(ts, &end, 10);
    if (errno || *end || end == ts) return "the timestamp is not a number";
    long long now = (long long)time(NULL);
    if (t < now - REPLAY_WINDOW_S || t > now + REPLAY_WINDOW_S)
        return "the timestamp is more than 5 minutes away from now (a replay?)";
    if (strncmp(sig, "sha256=", 7) != 0 || strlen(sig) != 7 + 64)
        return "the signature is not sha256=<64 hex>";
    /* HMAC over "<ts>.<body>", exactly as the header gave the timestamp. */
    size_t tl = strlen(ts);
    unsigned char *msg = malloc(tl + 1 + len);
    if (!msg) return "out of memory";
    memcpy(msg, ts, tl);
    msg[tl] = '.';
    memcpy(msg + tl + 1, body, len);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, tl + 1 + len, mac, &maclen);
    free(msg);
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned i = 0; i < maclen; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    /* Constant time, and either case of hex from the sender. */
    char given[65];
    for (int i = 0; i < 64; i++)
        given[i] = (char)tolower((unsigned char)sig[7 + i]);
    given[64] = '\0';
    if (maclen != 32 || CRYPTO_memcmp(hex, given, 64) != 0) return "the signature does not match";
    return NULL;
}

static int hang;

static void serve(struct io *conn, const char *secret, const char *out, long *count,
                  long fail_first)
{
    char *buf = malloc(HEAD_MAX + 1);
    size_t got = 0;
    char *body_start = NULL;
    while (!body_start && got < HEAD_MAX) {
        ssize_t r = io_read(conn, buf + got, HEAD_MAX - got);
        if (r <= 0) break;
        got += (size_t)r;
        buf[got] = '\0';
        char *e = strstr(buf, "\r\n\r\n");
        if (e) body_start = e + 4;
    }
    if (!body_start) {
        fprintf(stderr, "sink: incomplete request head\n");
        free(buf);
        return;
    }
    (*count)++;
    size_t headlen = (size_t)(body_start - buf);
    char cl[32], ev[64], dl[64], ts[32], sig[128];
    buf[headlen - 2] = '\0'; /* the header block ends at the blank line */
    long len = header(buf, "Content-Length", cl, sizeof cl) ? atol(cl) : -1;
    const char *pts = header(buf, "X-Gifnet-Timestamp", ts, sizeof ts);
    const char *psig = header(buf, "X-Gifnet-Signature", sig, sizeof sig);
    const char *pev = header(buf, "X-Gifnet-Event", ev, sizeof ev);
    const char *pdl = header(buf, "X-Gifnet-Delivery", dl, sizeof dl);
    if (len < 0 || len > BODY_MAX) {
        fprintf(stderr, "sink: request %ld: no usable Content-Length\n", *count);
        answer(conn, 400, "Bad Request");
        free(buf);
        return;
    }
    char *body = malloc((size_t)len + 1);
    size_t have = got - headlen;
    if (have > (size_t)len) have = (size_t)len;
    memcpy(body, body_start, have);
    while (have < (size_t)len) {
        ssize_t r = io_read(conn, body + have, (size_t)len - have);
        if (r <= 0) break;
        have += (size_t)r;
    }
    body[have] = '\0';
    free(buf);
    if (have < (size_t)len) {
        fprintf(stderr, "sink: request %ld: body cut short\n", *count);
        free(body);
        return;
    }
    if (hang) {
        fprintf(stderr, "sink: request %ld (%s %s): hanging as told\n", *count, pev ? pev : "?",
                pdl ? pdl : "?");
        for (;;)
            pause();
    }
    if (*count <= fail_first) {
        fprintf(stderr, "sink: request %ld (%s %s): answering 500 as told\n", *count,
                pev ? pev : "?", pdl ? pdl : "?");
        answer(conn, 500, "Internal Server Error");
        free(body);
        return;
    }
    const char *why = verify(secret, pts, psig, body, (size_t)len);
    if (why) {
        fprintf(stderr, "sink: request %ld (%s %s) refused: %s\n", *count, pev ? pev : "?",
                pdl ? pdl : "?", why);
        answer(conn, 401, "Unauthorized");
        free(body);
        return;
    }
    FILE *f = fopen(out, "a");
    if (f) {
        fwrite(body, 1, (size_t)len, f);
        fputc('\n', f);
        fclose(f);
    }
    fprintf(stderr, "sink: request %ld (%s %s) verified\n", *count, pev ? pev : "?",
            pdl ? pdl : "?");
    answer(conn, f ? 204 : 500, f ? "No Content" : "Internal Server Error");
    free(body);
}

int main(int argc, char **argv)
{
    const char *secret = NULL, *out = NULL, *port_file = NULL, *cert = NULL, *key = NULL;
    long port = 0, fail_first = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--hang") == 0) {
            hang = 1;
            continue;
        }
        if (i + 1 >= argc) usage();
        if (strcmp(argv[i], "--secret") == 0)
            secret = argv[++i];
        else if (strcmp(argv[i], "--out") == 0)
            out = argv[++i];
        else if (strcmp(argv[i], "--port") == 0)
            port = atol(argv[++i]);
        else if (strcmp(argv[i], "--port-file") == 0)
            port_file = argv[++i];
        else if (strcmp(argv[i], "--fail") == 0)
            fail_first = atol(argv[++i]);
        else if (strcmp(argv[i], "--cert") == 0)
            cert = argv[++i];
        else if (strcmp(argv[i], "--key") == 0)
            key = argv[++i];
        else
            usage();
    }
    if (!secret || !out || port < 0 || port > 65535 || !cert != !key) usage();
    signal(SIGPIPE, SIG_IGN);
    SSL_CTX *tls = NULL;
    if (cert) {
        tls = SSL_CTX_new(TLS_server_method());
        if (!tls || SSL_CTX_set_min_proto_version(tls, TLS1_2_VERSION) != 1 ||
            SSL_CTX_use_certificate_chain_file(tls, cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(tls, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(tls) != 1) {
            fprintf(stderr, "sink: cannot use %s and %s: %s\n", cert, key,
                    ERR_reason_error_string(ERR_get_error()));
            return 1;
        }
    }
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 16) != 0) {
        fprintf(stderr, "sink: cannot listen on 127.0.0.1:%ld: %s\n", port, strerror(errno));
        return 1;
    }
    socklen_t sl = sizeof sa;
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    if (port_file) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (!f) return 1;
        fprintf(f, "%d\n", ntohs(sa.sin_port));
        fclose(f);
        rename(tmp, port_file);
    }
    fprintf(stderr, "sink: listening on 127.0.0.1:%d%s\n", ntohs(sa.sin_port),
            tls ? " (https)" : "");
    long count = 0;
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "sink: accept: %s\n", strerror(errno));
            return 1;
        }
        struct timeval tv = {10, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        struct io c = {fd, NULL};
        if (tls) {
            ERR_clear_error();
            c.ssl = SSL_new(tls);
            if (!c.ssl || SSL_set_fd(c.ssl, fd) != 1 || SSL_accept(c.ssl) != 1) {
                unsigned long e = ERR_get_error();
                fprintf(stderr, "sink: TLS handshake failed: %s\n",
                        e ? ERR_reason_error_string(e) : "connection closed");
                SSL_free(c.ssl);
                close(fd);
                continue;
            }
            fprintf(stderr, "sink: TLS: %s %s\n", SSL_get_version(c.ssl),
                    SSL_get_cipher_name(c.ssl));
        }
        serve(&c, secret, out, &count, fail_first);
        if (c.ssl) SSL_shutdown(c.ssl);
        SSL_free(c.ssl);
        close(fd);
    }
}
