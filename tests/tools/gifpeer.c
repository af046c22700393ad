/*
 * gifpeer: a hostile test peer for gifd's peer port (tests/integration/test_peer_abuse.sh).
 *
 * It acts as a member node with a node data directory made by `gifctl node init` (its key,
 * certificate and the consortium root), connects to 127.0.0.1 only, completes the TLS 1.3
 * handshake with node/tls.h's engine over a blocking socket, waits for the node's HELLO,
 * sends its own HELLO (its real key), then one abusive action:
 *
 *   valid            a correctly signed signal of its own origin at --seq/--prev
 *   forged           the same with one signature byte flipped
 *   replay FILE      the hex record(s) in FILE (e.g. one the node already has)
 *   equivocate       two different signals at the same --seq, in two RECORDS frames
 *                    (--seq N --prev HEX give the origin's next position; default seq 1)
 *   oversized        a frame header claiming a 2 MiB payload (and some bytes of it)
 *   garbage          random bytes
 *   records FILE     the hex records listed one per line, in one RECORDS frame
 *
 * By default HELLO and the action go out in one write (one TLS record), so that the node reads
 * them together; with --pause MS, HELLO goes alone and gifpeer reads for MS milliseconds (the
 * node has handled HELLO and sent its answers) before it sends the action. Then it reads until
 * the node closes the link or --wait seconds (default 3) pass and prints one line on stdout:
 * `closed bye=<code> reason=<text>` (bye=none when the link ended without a BYE),
 * `failed reason=<text>` (TLS refused), or `open`. Each record sent is reported on stderr as
 * `sent id=<hex> seq=<n>`. Exit status 0 when the action was sent, 1 when the link ended
 * before that (the status line says why), 2 on a usage or local error.
 *
 * --trust CA_PEM drives the handshake with OpenSSL directly instead of the engine, trusting
 * CA_PEM for the node's certificate while presenting DIR's certificate: the engine refuses to
 * pair a certificate with a CA that did not issue it, and this mode exists to show a node a
 * certificate from another consortium.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <sodium.h>

#include "node/tls.h"
#include "protocol/keyfile.h"
#include "protocol/peer.h"
#include "protocol/record.h"
#include "util/gif.h"

#define IN_MAX (PEER_HEADER_LEN + PEER_FRAME_MAX)
#define NET_CHUNK 16384
#define FILE_MAX (16 * 1024 * 1024)

struct link {
    int fd;
    struct tls_conn *tc; /* engine mode */
    SSL *ssl;            /* --trust mode */
    uint8_t *in;         /* plaintext not yet parsed into frames */
    size_t in_len;
    bool ended;  /* the link is over: closed, reset or failed */
    bool failed; /* TLS failed (a refused certificate, an alert) */
    bool hello;  /* the node's HELLO arrived */
    bool bye;    /* the node sent BYE */
    uint64_t bye_code;
    char why[512]; /* why the link ended, or the BYE's reason */
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void end_link(struct link *l, bool failed, const char *fmt, const char *arg)
{
    if (l->ended) return;
    l->ended = true;
    l->failed = failed;
    snprintf(l->why, sizeof l->why, fmt, arg);
}

static int send_all(struct link *l, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(l->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            end_link(l, false, "send: %s", strerror(errno));
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Engine mode: sends whatever ciphertext the engine has queued. */
static int eng_flush(struct link *l)
{
    uint8_t buf[NET_CHUNK];
    size_t n;
    do {
        tls_conn_take(l->tc, buf, sizeof buf, &n);
        if (n && send_all(l, buf, n) != 0) return -1;
    } while (n);
    return 0;
}

/* Waits until the socket is readable or the deadline passes: 1 readable, 0 timeout. */
static int wait_readable(int fd, uint64_t deadline)
{
    for (;;) {
        uint64_t now = mono_ms();
        if (now >= deadline) return 0;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int rc = poll(&pfd, 1, (int)(deadline - now));
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0) return 0;
        return rc > 0;
    }
}

/* Engine mode: reads ciphertext from the socket into the engine. 1 fed, 0 timeout, -1 ended. */
static int eng_fill(struct link *l, uint64_t deadline)
{
    if (!wait_readable(l->fd, deadline)) return 0;
    uint8_t buf[NET_CHUNK];
    size_t room = tls_conn_in_room(l->tc);
    if (room > sizeof buf) room = sizeof buf;
    if (room == 0) return 1; /* the engine must drain first */
    ssize_t r = recv(l->fd, buf, room, 0);
    if (r < 0 && errno == EINTR) return 1;
    if (r < 0) {
        end_link(l, false, "connection reset: %s", strerror(errno));
        return -1;
    }
    if (r == 0) {
        end_link(l, false, "%s", "connection closed by the node (no BYE)");
        return -1;
    }
    if (tls_conn_feed(l->tc, buf, (size_t)r) != 0) {
        end_link(l, true, "TLS: %s", tls_conn_reason(l->tc));
        return -1;
    }
    return 1;
}

static int link_handshake(struct link *l, uint64_t deadline)
{
    if (l->ssl) {
        ERR_clear_error();
        if (SSL_connect(l->ssl) == 1) return 0;
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof e);
        end_link(l, true, "TLS handshake: %s", e);
        return -1;
    }
    for (;;) {
        int rc = tls_conn_handshake(l->tc);
        if (eng_flush(l) != 0) return -1;
        if (rc == 0) return 0;
        if (rc != -EAGAIN) {
            end_link(l, true, "TLS handshake: %s", tls_conn_reason(l->tc));
            return -1;
        }
        int f = eng_fill(l, deadline);
        if (f < 0) return -1;
        if (f == 0) {
            end_link(l, true, "%s", "TLS handshake timed out");
            return -1;
        }
    }
}

static int link_write(struct link *l, const uint8_t *p, size_t n)
{
    if (l->ended) return -1;
    if (l->ssl) {
        while (n > 0) {
            int chunk = n > NET_CHUNK ? NET_CHUNK : (int)n;
            int w = SSL_write(l->ssl, p, chunk);
            if (w <= 0) {
                end_link(l, true, "%s", "TLS write failed");
                return -1;
            }
            p += w;
            n -= (size_t)w;
        }
        return 0;
    }
    while (n > 0) {
        size_t room = tls_conn_out_room(l->tc);
        size_t chunk = n < room ? n : room;
        if (chunk > NET_CHUNK) chunk = NET_CHUNK;
        if (chunk == 0 || tls_conn_write(l->tc, p, chunk) != 0) {
            end_link(l, true, "TLS write: %s", tls_conn_reason(l->tc));
            return -1;
        }
        if (eng_flush(l) != 0) return -1;
        p += chunk;
        n -= chunk;
    }
    return 0;
}

/* Reads some plaintext into l->in. 1 some read, 0 timeout, -1 ended. */
static int link_read(struct link *l, uint64_t deadline)
{
    if (l->ended) return -1;
    if (l->in_len >= IN_MAX) {
        end_link(l, false, "%s", "the node sent a frame larger than the cap");
        return -1;
    }
    if (l->ssl) {
        if (SSL_pending(l->ssl) == 0 && !wait_readable(l->fd, deadline)) return 0;
        ERR_clear_error();
        int r = SSL_read(l->ssl, l->in + l->in_len, (int)(IN_MAX - l->in_len));
        if (r > 0) {
            l->in_len += (size_t)r;
            return 1;
        }
        int e = SSL_get_error(l->ssl, r);
        if (e == SSL_ERROR_WANT_READ) return 1;
        if (e == SSL_ERROR_ZERO_RETURN) {
            end_link(l, false, "%s", "the node sent close_notify");
            return -1;
        }
        char buf[256] = "connection closed by the node (no BYE)";
        unsigned long ec = ERR_get_error();
        if (ec) ERR_error_string_n(ec, buf, sizeof buf);
        end_link(l, ec != 0, "%s", buf);
        return -1;
    }
    for (;;) {
        size_t n = 0;
        int rc = tls_conn_read(l->tc, l->in + l->in_len, IN_MAX - l->in_len, &n);
        if (eng_flush(l) != 0) return -1;
        if (rc < 0) {
            end_link(l, true, "TLS: %s", tls_conn_reason(l->tc));
            return -1;
        }
        if (n > 0) {
            l->in_len += n;
            return 1;
        }
        if (tls_conn_state(l->tc) == TLS_CLOSED) {
            end_link(l, false, "%s", "the node sent close_notify");
            return -1;
        }
        int f = eng_fill(l, deadline);
        if (f <= 0) return f;
    }
}

/* Parses the frames received so far: notes HELLO and BYE, ignores the rest. */
static void take_frames(struct link *l)
{
    size_t off = 0;
    while (!l->ended) {
        struct peer_frame f;
        size_t used;
        int rc = peer_frame_parse(l->in + off, l->in_len - off, &f, &used);
        if (rc == -EAGAIN) break;
        if (rc != 0) {
            end_link(l, false, "the node sent a bad frame header (%s)", gif_errname(rc));
            break;
        }
        struct peer_msg m;
        rc = peer_msg_decode(&f, &m);
        off += used;
        if (rc != 0) {
            end_link(l, false, "the node sent a bad frame (%s)", gif_errname(rc));
            break;
        }
        if (m.type == PEER_HELLO) l->hello = true;
        if (m.type == PEER_BYE) {
            l->bye = true;
            l->bye_code = m.u.bye.code;
            l->ended = true;
            snprintf(l->why, sizeof l->why, "%.*s", (int)m.u.bye.reason.n, m.u.bye.reason.p);
        }
    }
    memmove(l->in, l->in + off, l->in_len - off);
    l->in_len -= off;
}

/* Reads until the link ends, the deadline passes, or (until_hello) the node's HELLO arrived. */
static void pump(struct link *l, uint64_t deadline, bool until_hello)
{
    while (!l->ended && !(until_hello && l->hello)) {
        int rc = link_read(l, deadline);
        take_frames(l);
        if (rc <= 0) break;
    }
}

static void print_status(const struct link *l)
{
    /* One line: newlines in a reason would split it. */
    char why[sizeof l->why];
    snprintf(why, sizeof why, "%s", l->why);
    for (char *c = why; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    if (l->bye)
        printf("closed bye=%llu reason=%s\n", (unsigned long long)l->bye_code, why);
    else if (l->ended && l->failed)
        printf("failed reason=%s\n", why);
    else if (l->ended)
        printf("closed bye=none reason=%s\n", why);
    else
        printf("open\n");
    fflush(stdout);
}

/* ---- Records. */

static uint8_t sk[PROTO_SK_LEN], pk[PROTO_KEY_LEN];

static void report(const uint8_t *rec, size_t n)
{
    struct proto_record r;
    uint8_t id[PROTO_ID_LEN];
    char hex[2 * PROTO_ID_LEN + 1];
    proto_record_id(id, rec, n);
    gif_hex(hex, id, PROTO_ID_LEN);
    if (proto_decode(&r, rec, n) == 0)
        fprintf(stderr, "sent id=%s seq=%llu\n", hex, (unsigned long long)r.seq);
    else
        fprintf(stderr, "sent id=%s seq=?\n", hex);
}

/* Signs a signal of our own origin (an md5 of random bytes). Returns 0 or a negative code. */
static int sign_signal(uint64_t seq, const uint8_t prev[PROTO_ID_LEN], uint64_t time_ms,
                       uint8_t **out, size_t *outlen)
{
    static uint8_t value[16];
    randombytes_buf(value, sizeof value);
    struct proto_record d;
    memset(&d, 0, sizeof d);
    d.version = PROTO_VERSION;
    d.kind = PROTO_SIGNAL;
    memcpy(d.origin, pk, PROTO_KEY_LEN);
    d.seq = seq;
    if (seq > 1) memcpy(d.prev, prev, PROTO_ID_LEN);
    d.time_ms = time_ms;
    d.u.signal.stype = PROTO_ST_MD5;
    d.u.signal.value = (struct proto_bytes){value, sizeof value};
    d.u.signal.entity = (struct proto_str){"", 0};
    d.u.signal.incident = (struct proto_str){"", 0};
    d.u.signal.confidence = 50;
    return proto_sign(&d, sk, out, outlen);
}

/* Reads hex records, one per line (blank lines skipped). Returns the count, -1 on error. */
static int read_hex_records(const char *path, uint8_t ***recs, size_t **lens)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "gifpeer: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int n = 0;
    *recs = NULL;
    *lens = NULL;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                           line[len - 1] == '\t'))
            line[--len] = 0;
        if (len == 0) continue;
        size_t bytes = (size_t)len / 2;
        uint8_t *b = malloc(bytes ? bytes : 1);
        uint8_t **nr = realloc(*recs, (size_t)(n + 1) * sizeof **recs);
        size_t *nl = realloc(*lens, (size_t)(n + 1) * sizeof **lens);
        if (nr) *recs = nr;
        if (nl) *lens = nl;
        if (!b || !nr || !nl || len % 2 || (size_t)len > FILE_MAX ||
            gif_unhex(b, bytes, line, (size_t)len) != 0) {
            fprintf(stderr, "gifpeer: %s: line %d is not a hex record\n", path, n + 1);
            free(b);
            free(line);
            fclose(f);
            return -1;
        }
        (*recs)[n] = b;
        (*lens)[n] = bytes;
        n++;
    }
    free(line);
    fclose(f);
    if (n == 0) fprintf(stderr, "gifpeer: %s holds no record\n", path);
    return n ? n : -1;
}

/* Appends one RECORDS frame with the given records to pb. Returns 0 or a negative code. */
static int encode_records(struct peer_buf *pb, uint8_t **recs, const size_t *lens, size_t n)
{
    struct proto_bytes *b = calloc(n ? n : 1, sizeof *b);
    if (!b) return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        b[i] = (struct proto_bytes){recs[i], lens[i]};
    int rc = peer_encode_records(pb, b, n);
    free(b);
    if (rc != 0) fprintf(stderr, "gifpeer: cannot encode RECORDS: %s\n", gif_strerror(rc));
    return rc;
}

/* ---- Setup. */

static int read_root_key(const char *ini, uint8_t key[TLS_KEY_LEN])
{
    FILE *f = fopen(ini, "r");
    if (!f) return -1;
    char line[512];
    bool in_cons = false;
    int rc = -1;
    while (fgets(line, sizeof line, f)) {
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '[') {
            in_cons = strncmp(s, "[consortium]", 12) == 0;
            continue;
        }
        if (!in_cons || strncmp(s, "root_key", 8) != 0) continue;
        char *eq = strchr(s, '=');
        if (!eq) continue;
        eq++;
        while (*eq == ' ' || *eq == '\t')
            eq++;
        size_t n = strcspn(eq, " \t\r\n#");
        rc = gif_unhex(key, TLS_KEY_LEN, eq, n) == 0 ? 0 : -1;
        break;
    }
    fclose(f);
    return rc;
}

static int tcp_connect(const char *addr)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host) return -1;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    if (strcmp(host, "127.0.0.1") != 0) {
        fprintf(stderr, "gifpeer: only 127.0.0.1 is allowed, not %s\n", host);
        return -1;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port <= 0 || port > 65535) return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv); /* bounds --trust mode's I/O */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "gifpeer: connect %s: %s\n", addr, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* --trust mode: an OpenSSL client trusting ca_path, presenting cert_path with our key. */
static SSL *raw_ssl(int fd, const char *cert_path, const char *ca_path)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, 32);
    SSL *ssl = NULL;
    if (key && SSL_CTX_load_verify_locations(ctx, ca_path, NULL) == 1 &&
        SSL_CTX_use_certificate_file(ctx, cert_path, SSL_FILETYPE_PEM) == 1 &&
        SSL_CTX_use_PrivateKey(ctx, key) == 1) {
        ssl = SSL_new(ctx);
        if (ssl) SSL_set_fd(ssl, fd);
    } else {
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof e);
        fprintf(stderr, "gifpeer: --trust setup: %s\n", e);
    }
    EVP_PKEY_free(key);
    SSL_CTX_free(ctx); /* the SSL keeps a reference */
    return ssl;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: gifpeer --dir NODE_DIR --connect 127.0.0.1:PORT [--seq N] [--prev HEX]\n"
            "               [--time MS] [--wait SECONDS] [--pause MS] [--key F] [--cert F]\n"
            "               [--ca F] [--trust CA_PEM] ACTION [FILE]\n"
            "ACTION: valid | forged | replay FILE | equivocate | oversized | garbage |\n"
            "        records FILE\n");
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *connect_to = NULL, *key_path = NULL, *cert_path = NULL,
               *ca_path = NULL, *trust = NULL, *action = NULL, *file = NULL;
    uint64_t seq = 1, time_ms = 0;
    uint8_t prev[PROTO_ID_LEN] = {0};
    double wait_s = 3;
    uint64_t pause_ms = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] == '-' && a[1] == '-' && !v) {
            usage();
            return 2;
        }
        if (!strcmp(a, "--dir"))
            dir = v, i++;
        else if (!strcmp(a, "--connect"))
            connect_to = v, i++;
        else if (!strcmp(a, "--key"))
            key_path = v, i++;
        else if (!strcmp(a, "--cert"))
            cert_path = v, i++;
        else if (!strcmp(a, "--ca"))
            ca_path = v, i++;
        else if (!strcmp(a, "--trust"))
            trust = v, i++;
        else if (!strcmp(a, "--seq"))
            seq = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--time"))
            time_ms = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--wait"))
            wait_s = strtod(v, NULL), i++;
        else if (!strcmp(a, "--pause"))
            pause_ms = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--prev")) {
            if (gif_unhex(prev, PROTO_ID_LEN, v, strlen(v)) != 0) {
                fprintf(stderr, "gifpeer: --prev wants 64 hex digits\n");
                return 2;
            }
            i++;
        } else if (!action)
            action = a;
        else if (!file)
            file = a;
        else {
            usage();
            return 2;
        }
    }
    if (!dir || !connect_to || !action || seq == 0) {
        usage();
        return 2;
    }
    bool needs_file = !strcmp(action, "replay") || !strcmp(action, "records");
    if (needs_file != (file != NULL) ||
        (!needs_file && strcmp(action, "valid") && strcmp(action, "forged") &&
         strcmp(action, "equivocate") && strcmp(action, "oversized") &&
         strcmp(action, "garbage"))) {
        usage();
        return 2;
    }
    if (sodium_init() < 0) return 2;
    if (!time_ms) time_ms = gif_now_ms();

    char kp[4096], cp[4096], ap[4096], ini[4096], err[512];
    snprintf(kp, sizeof kp, "%s/node.key", dir);
    snprintf(cp, sizeof cp, "%s/node.crt", dir);
    snprintf(ap, sizeof ap, "%s/root.crt", dir);
    snprintf(ini, sizeof ini, "%s/gifd.ini", dir);
    if (!key_path) key_path = kp;
    if (!cert_path) cert_path = cp;
    if (!ca_path) ca_path = ap;
    if (proto_keyfile_read_sk(key_path, sk, err, sizeof err) != 0) {
        fprintf(stderr, "gifpeer: %s\n", err);
        return 2;
    }
    proto_sk_to_pk(pk, sk);

    /* Prepare everything before connecting, so that the link sees the action at once. */
    uint8_t **recs = NULL;
    size_t *lens = NULL;
    int nrecs = 0;
    if (needs_file) {
        nrecs = read_hex_records(file, &recs, &lens);
        if (nrecs < 0) return 2;
    } else if (!strcmp(action, "valid") || !strcmp(action, "forged") ||
               !strcmp(action, "equivocate")) {
        nrecs = !strcmp(action, "equivocate") ? 2 : 1;
        recs = calloc(2, sizeof *recs);
        lens = calloc(2, sizeof *lens);
        if (!recs || !lens) return 2;
        for (int i = 0; i < nrecs; i++) {
            int rc = sign_signal(seq, prev, time_ms + (uint64_t)i, &recs[i], &lens[i]);
            if (rc != 0) {
                fprintf(stderr, "gifpeer: cannot sign: %s\n", gif_strerror(rc));
                return 2;
            }
        }
        /* The record ends with the 64-byte signature: flip a bit of its first byte. */
        if (!strcmp(action, "forged")) recs[0][lens[0] - PROTO_SIG_LEN] ^= 0x01;
    }

    struct link l;
    memset(&l, 0, sizeof l);
    l.in = malloc(IN_MAX);
    if (!l.in) return 2;
    struct tls_ctx *ctx = NULL;
    if (!trust) {
        uint8_t root[TLS_KEY_LEN];
        bool have_root = read_root_key(ini, root) == 0;
        int rc = tls_ctx_load(&ctx, key_path, cert_path, ca_path, have_root ? root : NULL, err,
                              sizeof err);
        if (rc != 0) {
            fprintf(stderr, "gifpeer: TLS context: %s\n", err);
            return 2;
        }
    }
    l.fd = tcp_connect(connect_to);
    if (l.fd < 0) return 2;
    if (trust) {
        l.ssl = raw_ssl(l.fd, cert_path, trust);
        if (!l.ssl) return 2;
    } else if (tls_conn_new(&l.tc, ctx, TLS_CLIENT, NULL) != 0) {
        return 2;
    }

    /* Handshake, then the node's HELLO (and VV) before ours: in TLS 1.3 the node's verdict
     * on our certificate arrives after our side finished. */
    int status = 1;
    uint64_t deadline = mono_ms() + 5000;
    if (link_handshake(&l, deadline) == 0) pump(&l, deadline, true);
    if (!l.ended && !l.hello) end_link(&l, false, "%s", "no HELLO from the node within 5 s");
    if (!l.ended) {
        /* HELLO, and the action's bytes (built before sending anything). */
        struct peer_hello h;
        memset(&h, 0, sizeof h);
        memcpy(h.node_key, pk, PROTO_KEY_LEN);
        h.software = (struct proto_str){"gifpeer/1", 9};
        h.listen_addr = (struct proto_str){"", 0};
        h.time_ms = gif_now_ms();
        struct peer_buf hello, act;
        peer_buf_init(&hello, PEER_HEADER_LEN + PEER_FRAME_MAX);
        peer_buf_init(&act, 2 * (PEER_HEADER_LEN + PEER_FRAME_MAX));
        int rc = peer_encode_hello(&hello, &h);
        if (rc == 0 && !strcmp(action, "equivocate")) {
            /* Two frames, so that the node takes them as two separate pushes. */
            rc = encode_records(&act, &recs[0], &lens[0], 1);
            if (rc == 0) rc = encode_records(&act, &recs[1], &lens[1], 1);
        } else if (rc == 0 && nrecs > 0) {
            rc = encode_records(&act, recs, lens, (size_t)nrecs);
        } else if (rc == 0) {
            uint8_t raw[PEER_HEADER_LEN + 4096];
            memset(raw, 0, sizeof raw);
            if (!strcmp(action, "oversized")) {
                uint32_t claim = 2u * 1024 * 1024;
                raw[0] = PEER_WIRE_VERSION, raw[1] = PEER_RECORDS;
                raw[2] = (uint8_t)(claim >> 24), raw[3] = (uint8_t)(claim >> 16);
                raw[4] = (uint8_t)(claim >> 8), raw[5] = (uint8_t)claim;
                raw[6] = 0xdd; /* array32: the start of a payload that never ends */
            } else {           /* garbage */
                randombytes_buf(raw, 256);
                if (raw[0] == PEER_WIRE_VERSION) raw[0] ^= 0x80; /* never a frame header */
            }
            size_t n = !strcmp(action, "oversized") ? sizeof raw : 256;
            act.data = malloc(n); /* raw bytes, owned by the buffer like frames */
            if (!act.data)
                rc = -ENOMEM;
            else
                memcpy(act.data, raw, n), act.cap = act.len = n;
        }
        if (rc != 0) return 2;
        if (pause_ms) {
            /* HELLO alone; let the node take it (and answer) before the action arrives. */
            rc = link_write(&l, hello.data, hello.len);
            if (rc == 0) pump(&l, mono_ms() + pause_ms, false);
            if (rc == 0 && !l.ended) rc = link_write(&l, act.data, act.len);
        } else {
            /* HELLO and the action in one write: the node reads them together. */
            uint8_t *both = malloc(hello.len + act.len);
            if (!both) return 2;
            memcpy(both, hello.data, hello.len);
            memcpy(both + hello.len, act.data, act.len);
            rc = link_write(&l, both, hello.len + act.len);
            free(both);
        }
        if (rc == 0 && !l.ended) {
            status = 0;
            for (int i = 0; i < nrecs; i++)
                report(recs[i], lens[i]);
        }
        peer_buf_free(&hello);
        peer_buf_free(&act);
    }
    if (status == 0) pump(&l, mono_ms() + (uint64_t)(wait_s * 1000), false);
    print_status(&l);

    for (int i = 0; i < nrecs; i++)
        free(recs[i]);
    free(recs);
    free(lens);
    free(l.in);
    if (l.ssl) SSL_free(l.ssl);
    tls_conn_free(l.tc);
    tls_ctx_free(ctx);
    close(l.fd);
    sodium_memzero(sk, sizeof sk);
    return status;
}
