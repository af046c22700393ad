/*
 * node/tls: certificates issued under a consortium root, and the connection engine driven by
 * pumping bytes between two engines in memory. Refusals (a foreign root either way, a
 * self-signed certificate, no client certificate, an expired certificate, a TLS 1.2-only
 * peer) each check the reason the refusing side gives. Peers that the engine cannot build
 * (they break the rules it enforces) are made with plain OpenSSL over memory BIOs. Leaks are
 * caught by the sanitizer build's LeakSanitizer at exit.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "node/tls.h"
#include "util/gif.h"

#define NOW_MS ((uint64_t)1795000000000) /* 2026-11-18 */
#define DAY_MS ((uint64_t)86400000)

struct key {
    uint8_t pk[TLS_KEY_LEN];
    uint8_t *sk; /* sodium_malloc'd */
};

/* Two consortia: A (root_a: nodes n1, n2, and n2's expired certificate) and B (root_b: n3). */
struct fx {
    struct key ra, rb, n1, n2, n3;
    char *root_a, *root_b, *c1, *c2, *c3, *c2_expired;
};

static void keygen(struct key *k)
{
    k->sk = sodium_malloc(TLS_SK_LEN);
    assert_non_null(k->sk);
    crypto_sign_keypair(k->pk, k->sk);
}

static char *node_cert(struct key *root, const char *root_pem, struct key *n, const char *org,
                       uint64_t nb, uint64_t na)
{
    char *pem = NULL, err[256];
    size_t len;
    int rc = tls_node_cert(root->sk, root_pem, n->pk, org, nb, na, &pem, &len, err, sizeof err);
    if (rc) print_error("tls_node_cert: %s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(strlen(pem), len);
    return pem;
}

static int group_setup(void **state)
{
    if (sodium_init() < 0) return -1;
    struct fx *f = calloc(1, sizeof *f);
    keygen(&f->ra);
    keygen(&f->rb);
    keygen(&f->n1);
    keygen(&f->n2);
    keygen(&f->n3);
    char err[256];
    size_t len;
    if (tls_root_cert(f->ra.sk, "Consortium A", gif_now_ms(), &f->root_a, &len, err, sizeof err) ||
        tls_root_cert(f->rb.sk, "Consortium B", gif_now_ms(), &f->root_b, &len, err, sizeof err))
        return -1;
    uint64_t now = gif_now_ms();
    f->c1 = node_cert(&f->ra, f->root_a, &f->n1, "CTU", now - DAY_MS, 0);
    f->c2 = node_cert(&f->ra, f->root_a, &f->n2, "Platform B", now - DAY_MS, now + 365 * DAY_MS);
    f->c3 = node_cert(&f->rb, f->root_b, &f->n3, "Outsider", now - DAY_MS, 0);
    f->c2_expired =
        node_cert(&f->ra, f->root_a, &f->n2, "Platform B", now - 30 * DAY_MS, now - DAY_MS);
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fx *f = *state;
    struct key *ks[] = {&f->ra, &f->rb, &f->n1, &f->n2, &f->n3};
    for (size_t i = 0; i < GIF_ARRAY_LEN(ks); i++)
        sodium_free(ks[i]->sk);
    free(f->root_a);
    free(f->root_b);
    free(f->c1);
    free(f->c2);
    free(f->c3);
    free(f->c2_expired);
    free(f);
    return 0;
}

static struct tls_ctx *ctx_for(struct key *k, const char *cert, const char *ca, const uint8_t *root)
{
    struct tls_ctx *t = NULL;
    char err[256];
    int rc = tls_ctx_new(&t, k->sk, cert, ca, root, err, sizeof err);
    if (rc) print_error("tls_ctx_new: %s\n", err);
    assert_int_equal(rc, 0);
    return t;
}

/* Moves every pending ciphertext byte from one engine to the other. Returns bytes moved. */
static size_t move(struct tls_conn *from, struct tls_conn *to)
{
    uint8_t buf[16384];
    size_t n, total = 0;
    while (tls_conn_take(from, buf, sizeof buf, &n) == 0 && n > 0) {
        if (tls_conn_feed(to, buf, n) != 0) break; /* a failed peer takes nothing */
        total += n;
    }
    return total;
}

/* Runs both handshakes to completion or failure. */
static void pump(struct tls_conn *a, struct tls_conn *b)
{
    for (int i = 0; i < 50; i++) {
        tls_conn_handshake(a);
        tls_conn_handshake(b);
        size_t m = move(a, b) + move(b, a);
        if (m == 0) return;
    }
    fail_msg("pump did not settle");
}

/* Reads every plaintext byte available into buf (at most cap). */
static size_t drain(struct tls_conn *c, uint8_t *buf, size_t cap)
{
    size_t total = 0, n;
    while (total < cap && tls_conn_read(c, buf + total, cap - total, &n) == 0 && n > 0)
        total += n;
    return total;
}

static void assert_reason(const struct tls_conn *c, const char *want)
{
    assert_int_equal(tls_conn_state(c), TLS_FAILED);
    print_message("reason: %s\n", tls_conn_reason(c));
    if (!strstr(tls_conn_reason(c), want))
        fail_msg("reason '%s' does not contain '%s'", tls_conn_reason(c), want);
}

/* ---- Plain OpenSSL peers for what the engine refuses to be. */

struct raw {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *in, *out;
};

/* A peer with the given certificate and key (both may be NULL), trusting ca, at most
 * max_version. */
static void raw_new(struct raw *r, bool client, const char *cert_pem, const uint8_t *sk,
                    const char *ca_pem, int max_version)
{
    memset(r, 0, sizeof *r);
    r->ctx = SSL_CTX_new(TLS_method());
    assert_non_null(r->ctx);
    SSL_CTX_set_max_proto_version(r->ctx, max_version);
    if (cert_pem) {
        BIO *b = BIO_new_mem_buf(cert_pem, -1);
        X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, 32);
        assert_int_equal(SSL_CTX_use_certificate(r->ctx, x), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey(r->ctx, k), 1);
        X509_free(x);
        EVP_PKEY_free(k);
        BIO_free(b);
    }
    BIO *b = BIO_new_mem_buf(ca_pem, -1);
    X509 *ca = PEM_read_bio_X509(b, NULL, NULL, NULL);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(r->ctx), ca);
    X509_free(ca);
    BIO_free(b);
    SSL_CTX_set_verify(r->ctx, SSL_VERIFY_PEER, NULL);
    r->ssl = SSL_new(r->ctx);
    r->in = BIO_new(BIO_s_mem());
    r->out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(r->in, -1);
    SSL_set_bio(r->ssl, r->in, r->out);
    if (client)
        SSL_set_connect_state(r->ssl);
    else
        SSL_set_accept_state(r->ssl);
}

static void raw_free(struct raw *r)
{
    SSL_free(r->ssl);
    SSL_CTX_free(r->ctx);
    ERR_clear_error();
}

/* Pumps between an engine and a raw peer until nothing moves. */
static void pump_raw(struct tls_conn *c, struct raw *r)
{
    uint8_t buf[16384], junk[256];
    for (int i = 0; i < 50; i++) {
        if (tls_conn_handshake(c) == 0) {
            size_t n;
            tls_conn_read(c, junk, sizeof junk, &n); /* takes alerts after the handshake */
        }
        if (SSL_do_handshake(r->ssl) == 1) {
            size_t n;
            SSL_read_ex(r->ssl, junk, sizeof junk, &n); /* takes alerts after the handshake */
        }
        ERR_clear_error();
        size_t moved = 0, n;
        while (tls_conn_take(c, buf, sizeof buf, &n) == 0 && n > 0) {
            BIO_write(r->in, buf, (int)n);
            moved += n;
        }
        int k;
        while ((k = BIO_read(r->out, buf, sizeof buf)) > 0) {
            if (tls_conn_feed(c, buf, (size_t)k) != 0) break;
            moved += (size_t)k;
        }
        if (moved == 0) return;
    }
    fail_msg("pump_raw did not settle");
}

/* A self-signed leaf certificate for k, shaped like a node certificate. */
static char *self_signed(struct key *k)
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, k->sk, 32);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600 * 24 * 365);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"Forger", -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, pk);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, &v3, NID_ext_key_usage, "clientAuth");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    assert_true(X509_sign(x, pk, NULL) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char *p;
    long len = BIO_get_mem_data(b, &p);
    char *out = calloc(1, (size_t)len + 1);
    memcpy(out, p, (size_t)len);
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(pk);
    return out;
}

/* ---- Tests. */

static void test_certificates(void **state)
{
    struct fx *f = *state;
    char err[256];
    assert_int_equal(tls_cert_check(f->c1, f->root_a, err, sizeof err), 0);
    assert_int_equal(tls_cert_check(f->c3, f->root_b, err, sizeof err), 0);
    assert_int_equal(tls_cert_check(f->c3, f->root_a, err, sizeof err), GIF_E_INVALID);
    assert_non_null(strstr(err, "not issued by the consortium root"));
    assert_int_equal(tls_cert_check(f->c2_expired, f->root_a, err, sizeof err), GIF_E_INVALID);
    assert_non_null(strstr(err, "expired"));
    assert_int_equal(tls_cert_check("junk", f->root_a, err, sizeof err), GIF_E_INVALID);

    /* The subject says who: O = organisation, CN = the key in hex; the root is a CA. */
    BIO *b = BIO_new_mem_buf(f->c1, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    char cn[80], o[80], hex[2 * TLS_KEY_LEN + 1];
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_organizationName, o, sizeof o);
    gif_hex(hex, f->n1.pk, TLS_KEY_LEN);
    assert_string_equal(cn, hex);
    assert_string_equal(o, "CTU");
    assert_int_equal(X509_check_ca(x), 0);
    X509_free(x);
    b = BIO_new_mem_buf(f->root_a, -1);
    x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_int_not_equal(X509_check_ca(x), 0);
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_organizationName, o, sizeof o);
    assert_string_equal(o, "Consortium A");
    X509_free(x);

    /* Issuing refuses a root key that is not the root certificate's, and an empty org. */
    char *pem = (char *)1;
    size_t len = 1;
    assert_int_equal(
        tls_node_cert(f->rb.sk, f->root_a, f->n1.pk, "X", NOW_MS, 0, &pem, &len, err, sizeof err),
        GIF_E_ROOT);
    assert_null(pem);
    assert_int_equal(len, 0);
    assert_int_equal(
        tls_node_cert(f->ra.sk, f->root_a, f->n1.pk, "", NOW_MS, 0, &pem, &len, err, sizeof err),
        GIF_E_INVALID);
    assert_int_equal(tls_node_cert(f->ra.sk, f->root_a, f->n1.pk, "X", NOW_MS, NOW_MS - 1, &pem,
                                   &len, err, sizeof err),
                     GIF_E_INVALID);
    /* A long organisation name is cut to the X.509 bound, at a character boundary. */
    char longorg[200];
    memset(longorg, 'a', sizeof longorg);
    memcpy(longorg + 62, "\xc3\xa9", 2); /* 'é' straddling byte 64 */
    longorg[sizeof longorg - 1] = '\0';
    assert_int_equal(tls_node_cert(f->ra.sk, f->root_a, f->n1.pk, longorg, NOW_MS, 0, &pem, &len,
                                   err, sizeof err),
                     0);
    free(pem);
    memset(longorg + 62, 'a', 3); /* now the cut would split 'é' at byte 63..64 */
    longorg[63] = '\xc3';
    longorg[64] = '\xa9';
    assert_int_equal(tls_node_cert(f->ra.sk, f->root_a, f->n1.pk, longorg, NOW_MS, 0, &pem, &len,
                                   err, sizeof err),
                     0);
    free(pem);
}

static void test_ctx_refusals(void **state)
{
    struct fx *f = *state;
    struct tls_ctx *t = (struct tls_ctx *)1;
    char err[256];
    /* A certificate from another consortium. */
    assert_int_equal(tls_ctx_new(&t, f->n3.sk, f->c3, f->root_a, NULL, err, sizeof err),
                     GIF_E_INVALID);
    assert_null(t);
    assert_non_null(strstr(err, "not issued by the consortium root"));
    /* A certificate for another key. */
    assert_int_equal(tls_ctx_new(&t, f->n2.sk, f->c1, f->root_a, NULL, err, sizeof err),
                     GIF_E_INVALID);
    assert_non_null(strstr(err, "another key"));
    /* A CA that is not the configured root. */
    assert_int_equal(tls_ctx_new(&t, f->n1.sk, f->c1, f->root_a, f->rb.pk, err, sizeof err),
                     GIF_E_ROOT);
    assert_non_null(strstr(err, "root key"));
    assert_int_equal(tls_ctx_new(&t, f->n1.sk, "junk", f->root_a, NULL, err, sizeof err),
                     GIF_E_INVALID);
    t = ctx_for(&f->n1, f->c1, f->root_a, f->ra.pk);
    tls_ctx_free(t);
    tls_ctx_free(NULL);
    /* Files: a missing one is named. */
    assert_int_equal(tls_ctx_load(&t, "/nonexistent/node.key", "/x", "/y", NULL, err, sizeof err),
                     -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/node.key"));
}

static void test_handshake_and_data(void **state)
{
    struct fx *f = *state;
    struct tls_ctx *t1 = ctx_for(&f->n1, f->c1, f->root_a, f->ra.pk);
    struct tls_ctx *t2 = ctx_for(&f->n2, f->c2, f->root_a, f->ra.pk);
    struct tls_conn *cl, *sv;
    assert_int_equal(tls_conn_new(&cl, t1, TLS_CLIENT, f->n2.pk), 0);
    assert_int_equal(tls_conn_new(&sv, t2, TLS_SERVER, NULL), 0);
    /* The connections keep the contexts alive. */
    tls_ctx_free(t1);
    tls_ctx_free(t2);

    uint8_t pk[TLS_KEY_LEN];
    char org[TLS_ORG_MAX + 1];
    assert_int_equal(tls_conn_peer(cl, pk, org, sizeof org), -ENOTCONN);
    assert_int_equal(tls_conn_write(cl, (const uint8_t *)"x", 1), -ENOTCONN);
    assert_int_equal(tls_conn_handshake(sv), -EAGAIN);
    pump(cl, sv);
    assert_int_equal(tls_conn_handshake(cl), 0);
    assert_int_equal(tls_conn_handshake(sv), 0);
    assert_int_equal(tls_conn_state(cl), TLS_ESTABLISHED);
    assert_int_equal(tls_conn_state(sv), TLS_ESTABLISHED);
    assert_string_equal(tls_conn_reason(cl), "");

    assert_int_equal(tls_conn_peer(cl, pk, org, sizeof org), 0);
    assert_memory_equal(pk, f->n2.pk, TLS_KEY_LEN);
    assert_string_equal(org, "Platform B");
    assert_int_equal(tls_conn_peer(sv, pk, org, sizeof org), 0);
    assert_memory_equal(pk, f->n1.pk, TLS_KEY_LEN);
    assert_string_equal(org, "CTU");

    /* Client to server: a short message. */
    assert_int_equal(tls_conn_write(cl, (const uint8_t *)"hello", 5), 0);
    move(cl, sv);
    uint8_t buf[300000];
    assert_int_equal(drain(sv, buf, sizeof buf), 5);
    assert_memory_equal(buf, "hello", 5);

    /* Server to client: many records. */
    static uint8_t big[200000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    assert_int_equal(tls_conn_write(sv, big, sizeof big), 0);
    move(sv, cl);
    assert_int_equal(drain(cl, buf, sizeof buf), sizeof big);
    assert_memory_equal(buf, big, sizeof big);

    /* A clean close. */
    tls_conn_close(cl);
    move(cl, sv);
    size_t n;
    assert_int_equal(tls_conn_read(sv, buf, sizeof buf, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(tls_conn_state(sv), TLS_CLOSED);
    tls_conn_free(cl);
    tls_conn_free(sv);
    tls_conn_free(NULL);
}

static void test_not_the_member_dialled(void **state)
{
    struct fx *f = *state;
    struct tls_ctx *t1 = ctx_for(&f->n1, f->c1, f->root_a, NULL);
    struct tls_ctx *t2 = ctx_for(&f->n2, f->c2, f->root_a, NULL);
    struct tls_conn *cl, *sv;
    assert_int_equal(tls_conn_new(&cl, t1, TLS_CLIENT, f->n3.pk), 0);
    assert_int_equal(tls_conn_new(&sv, t2, TLS_SERVER, NULL), 0);
    pump(cl, sv);
    assert_reason(cl, "not the member dialled");
    assert_int_equal(tls_conn_handshake(cl), -EACCES);
    uint8_t pk[TLS_KEY_LEN];
    assert_int_equal(tls_conn_peer(cl, pk, NULL, 0), -ENOTCONN);
    tls_conn_free(cl);
    tls_conn_free(sv);
    tls_ctx_free(t1);
    tls_ctx_free(t2);
}

/* The client is in consortium A, the server in B: each refuses the other. */
static void test_foreign_server(void **state)
{
    struct fx *f = *state;
    struct tls_ctx *t1 = ctx_for(&f->n1, f->c1, f->root_a, NULL);
    struct tls_ctx *t3 = ctx_for(&f->n3, f->c3, f->root_b, NULL);
    struct tls_conn *cl, *sv;
    assert_int_equal(tls_conn_new(&cl, t1, TLS_CLIENT, NULL), 0);
    assert_int_equal(tls_conn_new(&sv, t3, TLS_SERVER, NULL), 0);
    pump(cl, sv);
    assert_reason(cl, "peer certificate not issued by the consortium root");
    assert_int_equal(tls_conn_handshake(cl), -EACCES);
    assert_reason(sv, "unknown CA");
    assert_int_equal(tls_conn_handshake(sv), -EACCES);
    assert_int_equal(tls_conn_feed(cl, (const uint8_t *)"x", 1), -EPIPE);
    tls_conn_free(cl);
    tls_conn_free(sv);
    tls_ctx_free(t1);
    tls_ctx_free(t3);
}

/* A client with a certificate from consortium B (which trusts A's root, so the server passes
 * its own check) is refused by the server; the client learns it on its first read. */
static void test_foreign_client(void **state)
{
    struct fx *f = *state;
    struct tls_ctx *t1 = ctx_for(&f->n1, f->c1, f->root_a, NULL);
    struct tls_conn *sv;
    assert_int_equal(tls_conn_new(&sv, t1, TLS_SERVER, NULL), 0);
    struct raw r;
    raw_new(&r, true, f->c3, f->n3.sk, f->root_a, TLS1_3_VERSION);
    pump_raw(sv, &r);
    assert_reason(sv, "peer certificate not issued by the consortium root");
    assert_int_equal(tls_conn_handshake(sv), -EACCES);
    raw_free(&r);
    tls_conn_free(sv);

    /* Our client is accepted by nobody: a server of consortium A that trusts only B's root
     * refuses our A certificate after our client has finished its handshake (TLS 1.3); our
     * client learns why from the server's alert on its next read. */
    struct raw rs;
    raw_new(&rs, false, f->c2, f->n2.sk, f->root_b, TLS1_3_VERSION);
    SSL_set_verify(rs.ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    struct tls_conn *cl;
    assert_int_equal(tls_conn_new(&cl, t1, TLS_CLIENT, NULL), 0);
    pump_raw(cl, &rs);
    assert_reason(cl, "unknown CA");
    assert_int_equal(tls_conn_handshake(cl), -EACCES);
    raw_free(&rs);
    tls_conn_free(cl);
    tls_ctx_free(t1);
}

static void test_self_signed(void **state)
{
    struct fx *f = *state;
    char *ss = self_signed(&f->n2);
    struct tls_ctx *t1 = ctx_for(&f->n1, f->c1, f->root_a, NULL);
    struct tls_conn *sv;
    assert_int_equal(tls_conn_new(&sv, t1, TLS_SERVER, NULL), 0);
    struct raw r;
    raw_new(&r, true, ss, f->n2.sk, f->root_a, TLS1_3_VERSION);
    pump_raw(sv, &r);
    assert_reason(sv, "peer certificate not issued by the consortium root (it is self-signed)");
    raw_free(&r);
    tls_conn_free(sv);

    /* A server with a self-signed certificate: the client refuses it. */
    struct tls_conn *cl;
    assert_int_equal(tls_conn_new(&cl, t1, TLS_CLIENT, NULL), 0);
    raw_new(&r, false, ss, f->n2.sk, f->root_a, TLS1_3_VERSION);
    pump_raw(cl, &r);
    assert_reason(cl, "not issued by the consortium root");
    raw_free(&r);
    tls_conn_free(cl);
    tls_ctx_free(t1);
    free(ss);
}

static void test_no_client_cert(void **state)
{
    struct fx *f = *state;
    struct tls_ctx *t1 = ctx_for(&f->n1, f->c1, f->root_a, NULL);
    struct tls_conn *sv;
    assert_int_equal(tls_conn_new(&sv, t1, TLS_SERVER, NULL), 0);
    struct raw r;
    raw_new(&r, true, NULL, NULL, f->root_a, TLS1_3_VERSION);
    pump_raw(sv, &r);
    assert_reason(sv, "peer presented no certificate");
    assert_int_equal(tls_conn_handshake(sv), -EACCES);
    raw_free(&r);
    tls_conn_free(sv);
    tls_ctx_free(t1);
}

static void test_expired(void **state)
{
    struct fx *f = *state;
    struct tls_ctx *t1 = ctx_for(&f->n1, f->c1, f->root_a, NULL);
    /* The engine itself refuses to start with an expired certificate. */
    struct tls_ctx *t2;
    char err[256];
    assert_int_equal(tls_ctx_new(&t2, f->n2.sk, f->c2_expired, f->root_a, NULL, err, sizeof err),
                     GIF_E_INVALID);
    assert_non_null(strstr(err, "expired"));

    struct tls_conn *sv, *cl;
    assert_int_equal(tls_conn_new(&sv, t1, TLS_SERVER, NULL), 0);
    struct raw r;
    raw_new(&r, true, f->c2_expired, f->n2.sk, f->root_a, TLS1_3_VERSION);
    pump_raw(sv, &r);
    assert_reason(sv, "peer certificate has expired");
    raw_free(&r);
    tls_conn_free(sv);

    assert_int_equal(tls_conn_new(&cl, t1, TLS_CLIENT, NULL), 0);
    raw_new(&r, false, f->c2_expired, f->n2.sk, f->root_a, TLS1_3_VERSION);
    pump_raw(cl, &r);
    assert_reason(cl, "peer certificate has expired");
    raw_free(&r);
    tls_conn_free(cl);
    tls_ctx_free(t1);
}

static void test_tls12_peer(void **state)
{
    struct fx *f = *state;
    struct tls_ctx *t1 = ctx_for(&f->n1, f->c1, f->root_a, NULL);
    struct tls_conn *sv, *cl;
    assert_int_equal(tls_conn_new(&sv, t1, TLS_SERVER, NULL), 0);
    struct raw r;
    raw_new(&r, true, f->c2, f->n2.sk, f->root_a, TLS1_2_VERSION);
    pump_raw(sv, &r);
    assert_reason(sv, "protocol version");
    assert_int_equal(tls_conn_handshake(sv), -EPROTO);
    raw_free(&r);
    tls_conn_free(sv);

    /* And a TLS 1.2-only server, seen from our client. */
    assert_int_equal(tls_conn_new(&cl, t1, TLS_CLIENT, NULL), 0);
    raw_new(&r, false, f->c2, f->n2.sk, f->root_a, TLS1_2_VERSION);
    pump_raw(cl, &r);
    assert_reason(cl, "protocol version");
    raw_free(&r);
    tls_conn_free(cl);
    tls_ctx_free(t1);
}

static void test_caps(void **state)
{
    struct fx *f = *state;
    struct tls_ctx *t1 = ctx_for(&f->n1, f->c1, f->root_a, NULL);
    struct tls_ctx *t2 = ctx_for(&f->n2, f->c2, f->root_a, NULL);
    struct tls_conn *cl, *sv;

    /* Incoming ciphertext: TLS_CONN_IN_MAX and not a byte more. */
    assert_int_equal(tls_conn_new(&sv, t2, TLS_SERVER, NULL), 0);
    static uint8_t junk[TLS_CONN_IN_MAX + 1];
    memset(junk, 'G', sizeof junk);
    assert_int_equal(tls_conn_in_room(sv), TLS_CONN_IN_MAX);
    assert_int_equal(tls_conn_feed(sv, junk, sizeof junk), GIF_E_TOOBIG);
    assert_int_equal(tls_conn_feed(sv, junk, TLS_CONN_IN_MAX - 10), 0);
    assert_int_equal(tls_conn_in_room(sv), 10);
    assert_int_equal(tls_conn_feed(sv, junk, 11), GIF_E_TOOBIG);
    assert_int_equal(tls_conn_feed(sv, junk, 10), 0);
    assert_int_equal(tls_conn_in_room(sv), 0);
    /* And it is not TLS at all. */
    assert_int_equal(tls_conn_handshake(sv), -EPROTO);
    assert_int_equal(tls_conn_state(sv), TLS_FAILED);
    assert_true(strlen(tls_conn_reason(sv)) > 0);
    tls_conn_free(sv);

    /* Outgoing ciphertext: a writer that never sends fills the queue and is then refused. */
    assert_int_equal(tls_conn_new(&cl, t1, TLS_CLIENT, NULL), 0);
    assert_int_equal(tls_conn_new(&sv, t2, TLS_SERVER, NULL), 0);
    assert_int_equal(tls_conn_out_room(cl), 0); /* not established */
    pump(cl, sv);
    static uint8_t chunk[100000];
    size_t written = 0;
    while (tls_conn_out_room(cl) >= sizeof chunk) {
        assert_int_equal(tls_conn_write(cl, chunk, sizeof chunk), 0);
        written += sizeof chunk;
    }
    size_t room = tls_conn_out_room(cl);
    assert_int_equal(tls_conn_write(cl, chunk, room + 1), GIF_E_TOOBIG);
    assert_int_equal(tls_conn_write(cl, chunk, room), 0);
    written += room;
    assert_true(tls_conn_pending(cl) <= TLS_CONN_OUT_MAX);
    assert_true(written > TLS_CONN_OUT_MAX * 9 / 10);

    /* The receiver takes what fits, decrypts it, and takes the rest. */
    static uint8_t buf[TLS_CONN_OUT_MAX];
    uint8_t tmp[16384];
    size_t got = 0, n;
    while (tls_conn_pending(cl) > 0) {
        size_t want = tls_conn_in_room(sv) < sizeof tmp ? tls_conn_in_room(sv) : sizeof tmp;
        assert_int_equal(tls_conn_take(cl, tmp, want, &n), 0);
        assert_int_equal(tls_conn_feed(sv, tmp, n), 0);
        got += drain(sv, buf, sizeof buf);
    }
    got += drain(sv, buf, sizeof buf);
    assert_int_equal(got, written);

    tls_conn_free(cl);
    tls_conn_free(sv);
    tls_ctx_free(t1);
    tls_ctx_free(t2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_certificates),
        cmocka_unit_test(test_ctx_refusals),
        cmocka_unit_test(test_handshake_and_data),
        cmocka_unit_test(test_not_the_member_dialled),
        cmocka_unit_test(test_foreign_server),
        cmocka_unit_test(test_foreign_client),
        cmocka_unit_test(test_self_signed),
        cmocka_unit_test(test_no_client_cert),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_tls12_peer),
        cmocka_unit_test(test_caps),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
