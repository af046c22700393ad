/*
 * TLS for peer links, and a server-authenticated client for HTTPS receivers: see tls.h for
 * the model and the caps.
 *
 * OpenSSL's error queue is per thread and sticky: every entry point clears it first, and a
 * failure is turned into one sentence at the place that knows what failed, then the queue is
 * cleared again, so a later call never reports an earlier call's error.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol/keyfile.h"
#include "util/gif.h"

#define ROOT_CN "gifnet consortium root"
#define YEAR_S ((int64_t)365 * 24 * 3600 + 6 * 3600) /* a Julian year: leap days included */
#define ROOT_BACKDATE_S 3600
#define SERIAL_LEN 16
/* Ciphertext a TLS 1.3 record adds to its plaintext: header 5, content type 1, AEAD tag 16;
 * rounded up. Records carry at most 16 KiB of plaintext. */
#define RECORD_OVERHEAD 32
#define RECORD_PLAIN 16384
#define ORG_BUF (4 * TLS_ORG_MAX + 1) /* TLS_ORG_MAX characters of UTF-8 */
#define HOST_MAX 256                  /* a DNS name (253) or an address, and its NUL */

/* The reason of OpenSSL's latest error, for messages; clears the queue. */
static const char *ossl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : "unknown OpenSSL error";
}

/* ---- Certificates. */

static X509 *pem_to_x509(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    if (!b) return NULL;
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    return x;
}

static int x509_to_pem(X509 *x, char **pem, size_t *pemlen)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (!b || PEM_write_bio_X509(b, x) != 1) {
        BIO_free(b);
        return -ENOMEM;
    }
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *out = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (!out) {
        BIO_free(b);
        return -ENOMEM;
    }
    memcpy(out, p, (size_t)n);
    out[n] = '\0';
    BIO_free(b);
    *pem = out;
    if (pemlen) *pemlen = (size_t)n;
    return 0;
}

/* An EVP_PKEY for the seed half of sk, after checking that sk's public half belongs to it
 * (a key file whose halves disagree would otherwise give certificates for the wrong key). */
static EVP_PKEY *pkey_from_sk(const uint8_t sk[static TLS_SK_LEN])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, 32);
    if (!k) return NULL;
    uint8_t pk[TLS_KEY_LEN];
    size_t n = sizeof pk;
    if (EVP_PKEY_get_raw_public_key(k, pk, &n) != 1 || n != TLS_KEY_LEN ||
        sodium_memcmp(pk, sk + 32, TLS_KEY_LEN) != 0) {
        EVP_PKEY_free(k);
        return NULL;
    }
    return k;
}

/* Adds a name entry holding at most TLS_ORG_MAX bytes of s, cut at a UTF-8 boundary. */
static bool name_add(X509_NAME *n, const char *field, const char *s)
{
    size_t len = strlen(s);
    if (len > TLS_ORG_MAX) {
        len = TLS_ORG_MAX;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
    }
    return X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8, (const unsigned char *)s, (int)len,
                                      -1, 0) == 1;
}

static bool add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, v3, nid, value);
    if (!e) return false;
    bool ok = X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok;
}

static bool set_serial(X509 *x)
{
    uint8_t b[SERIAL_LEN];
    if (RAND_bytes(b, sizeof b) != 1) return false;
    b[0] = (uint8_t)((b[0] & 0x7f) | 0x40); /* positive, non-zero, always SERIAL_LEN bytes */
    BIGNUM *bn = BN_bin2bn(b, sizeof b, NULL);
    bool ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok;
}

/*
 * The common part of both certificates: version 3, a random serial, validity, subject,
 * issuer and public key. issuer is NULL for a self-signed certificate.
 */
static X509 *cert_start(EVP_PKEY *subject_key, X509_NAME *subject, X509 *issuer, int64_t nb,
                        int64_t na)
{
    X509 *x = X509_new();
    if (!x) return NULL;
    if (X509_set_version(x, 2) != 1 || !set_serial(x) ||
        !ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) ||
        !ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) ||
        X509_set_subject_name(x, subject) != 1 ||
        X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) != 1 ||
        X509_set_pubkey(x, subject_key) != 1) {
        X509_free(x);
        return NULL;
    }
    return x;
}

int tls_root_cert(const uint8_t root_sk[static TLS_SK_LEN], const char *name, uint64_t now_ms,
                  char **pem, size_t *pemlen, char *err, size_t errlen)
{
    *pem = NULL;
    if (pemlen) *pemlen = 0;
    ERR_clear_error();
    int rc = GIF_E_INVALID;
    X509 *x = NULL;
    X509_NAME *subj = NULL;
    EVP_PKEY *k = pkey_from_sk(root_sk);
    if (!k) {
        gif_seterr(err, errlen, "root key: not a valid Ed25519 secret key (%s)", ossl_reason());
        goto out;
    }
    subj = X509_NAME_new();
    if (!subj || (name && name[0] && !name_add(subj, "O", name)) ||
        !name_add(subj, "CN", ROOT_CN)) {
        gif_seterr(err, errlen, "root certificate: bad consortium name '%s' (%s)", name ? name : "",
                   ossl_reason());
        goto out;
    }
    int64_t nb = (int64_t)(now_ms / 1000) - ROOT_BACKDATE_S;
    x = cert_start(k, subj, NULL, nb, nb + TLS_ROOT_YEARS * YEAR_S);
    X509V3_CTX v3;
    if (x) X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    /* The subject key id first: the authority key id of a self-signed certificate is copied
     * from it. X509_V_FLAG_X509_STRICT wants both on a CA. */
    if (!x || !add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE") ||
        !add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign") ||
        !add_ext(x, &v3, NID_subject_key_identifier, "hash") ||
        !add_ext(x, &v3, NID_authority_key_identifier, "keyid:always") ||
        X509_sign(x, k, NULL) <= 0) {
        gif_seterr(err, errlen, "root certificate: %s", ossl_reason());
        rc = -ENOMEM;
        goto out;
    }
    rc = x509_to_pem(x, pem, pemlen);
    if (rc) gif_seterr(err, errlen, "root certificate: out of memory");
out:
    X509_free(x);
    X509_NAME_free(subj);
    EVP_PKEY_free(k);
    ERR_clear_error();
    return rc;
}

int tls_node_cert(const uint8_t root_sk[static TLS_SK_LEN], const char *root_pem,
                  const uint8_t node_pk[static TLS_KEY_LEN], const char *org,
                  uint64_t not_before_ms, uint64_t not_after_ms, char **pem, size_t *pemlen,
                  char *err, size_t errlen)
{
    *pem = NULL;
    if (pemlen) *pemlen = 0;
    ERR_clear_error();
    int rc = GIF_E_INVALID;
    X509 *root = NULL, *x = NULL;
    X509_NAME *subj = NULL;
    EVP_PKEY *nk = NULL, *k = pkey_from_sk(root_sk);
    if (!k) {
        gif_seterr(err, errlen, "root key: not a valid Ed25519 secret key");
        goto out;
    }
    root = pem_to_x509(root_pem);
    if (!root) {
        gif_seterr(err, errlen, "root certificate: not a PEM certificate (%s)", ossl_reason());
        goto out;
    }
    if (EVP_PKEY_eq(X509_get0_pubkey(root), k) != 1) {
        gif_seterr(err, errlen, "root certificate: not the certificate of this root key");
        rc = GIF_E_ROOT;
        goto out;
    }
    nk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, node_pk, TLS_KEY_LEN);
    if (!nk) {
        gif_seterr(err, errlen, "node key: not an Ed25519 public key (%s)", ossl_reason());
        goto out;
    }
    if (!org || !org[0]) {
        gif_seterr(err, errlen, "node certificate: the organisation is empty");
        goto out;
    }
    char cn[2 * TLS_KEY_LEN + 1];
    gif_hex(cn, node_pk, TLS_KEY_LEN);
    subj = X509_NAME_new();
    if (!subj || !name_add(subj, "O", org) || !name_add(subj, "CN", cn)) {
        gif_seterr(err, errlen, "node certificate: bad organisation '%s' (%s)", org, ossl_reason());
        goto out;
    }
    int64_t nb = (int64_t)(not_before_ms / 1000);
    int64_t na = not_after_ms ? (int64_t)(not_after_ms / 1000) : nb + TLS_NODE_YEARS * YEAR_S;
    if (na <= nb) {
        gif_seterr(err, errlen, "node certificate: not_after is not after not_before");
        goto out;
    }
    x = cert_start(nk, subj, root, nb, na);
    X509V3_CTX v3;
    if (x) X509V3_set_ctx(&v3, root, x, NULL, NULL, 0);
    if (!x || !add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") ||
        !add_ext(x, &v3, NID_key_usage, "critical,digitalSignature") ||
        !add_ext(x, &v3, NID_ext_key_usage, "serverAuth,clientAuth") ||
        !add_ext(x, &v3, NID_subject_key_identifier, "hash") ||
        !add_ext(x, &v3, NID_authority_key_identifier, "keyid:always") ||
        X509_sign(x, k, NULL) <= 0) {
        gif_seterr(err, errlen, "node certificate: %s", ossl_reason());
        rc = -ENOMEM;
        goto out;
    }
    rc = x509_to_pem(x, pem, pemlen);
    if (rc) gif_seterr(err, errlen, "node certificate: out of memory");
out:
    X509_free(x);
    X509_free(root);
    X509_NAME_free(subj);
    EVP_PKEY_free(nk);
    EVP_PKEY_free(k);
    ERR_clear_error();
    return rc;
}

/* A sentence for a certificate verification failure, as seen by the side that checked. */
static void verify_reason(long v, char *out, size_t outlen)
{
    switch (v) {
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        snprintf(out, outlen,
                 "peer certificate not issued by the consortium root (it is self-signed)");
        break;
    /* With verify depth 0, OpenSSL reports a leaf whose issuer it cannot find as a chain
     * too long: for us all of these mean the same. */
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
        snprintf(out, outlen, "peer certificate not issued by the consortium root");
        break;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        snprintf(out, outlen, "peer certificate not issued by the consortium root (bad signature)");
        break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        snprintf(out, outlen, "peer certificate has expired (membership period over)");
        break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        snprintf(out, outlen, "peer certificate is not valid yet (membership not started)");
        break;
    default:
        snprintf(out, outlen, "peer certificate refused: %s", X509_verify_cert_error_string(v));
        break;
    }
}

static X509_STORE *trust_store(X509 *ca)
{
    X509_STORE *s = X509_STORE_new();
    if (!s || X509_STORE_add_cert(s, ca) != 1 ||
        X509_STORE_set_flags(s, X509_V_FLAG_X509_STRICT) != 1) {
        X509_STORE_free(s);
        return NULL;
    }
    /* Only node certificates issued directly by the root: no intermediate CAs. */
    X509_STORE_set_depth(s, 0);
    return s;
}

/* Verifies cert under ca for both TLS purposes (a node is client and server). */
static int check_issued(X509 *cert, X509 *ca, char *err, size_t errlen)
{
    X509_STORE *s = trust_store(ca);
    X509_STORE_CTX *sc = X509_STORE_CTX_new();
    int rc = -ENOMEM;
    static const int purposes[] = {X509_PURPOSE_SSL_CLIENT, X509_PURPOSE_SSL_SERVER};
    for (size_t i = 0; s && sc && i < GIF_ARRAY_LEN(purposes); i++) {
        rc = GIF_E_INVALID;
        if (X509_STORE_CTX_init(sc, s, cert, NULL) != 1 ||
            X509_STORE_CTX_set_purpose(sc, purposes[i]) != 1)
            break;
        if (X509_verify_cert(sc) != 1) {
            char r[TLS_REASON_MAX];
            verify_reason(X509_STORE_CTX_get_error(sc), r, sizeof r);
            /* The sentence names a "peer" for the handshake's sake; here it is a file. */
            gif_seterr(err, errlen, "%s", strncmp(r, "peer ", 5) == 0 ? r + 5 : r);
            break;
        }
        X509_STORE_CTX_cleanup(sc);
        rc = 0;
    }
    X509_STORE_CTX_free(sc);
    X509_STORE_free(s);
    ERR_clear_error();
    return rc;
}

int tls_cert_check(const char *cert_pem, const char *ca_pem, char *err, size_t errlen)
{
    ERR_clear_error();
    X509 *cert = pem_to_x509(cert_pem), *ca = pem_to_x509(ca_pem);
    int rc = GIF_E_INVALID;
    if (!cert || !ca)
        gif_seterr(err, errlen, "%s: not a PEM certificate", !cert ? "certificate" : "CA");
    else
        rc = check_issued(cert, ca, err, errlen);
    X509_free(cert);
    X509_free(ca);
    ERR_clear_error();
    return rc;
}

/* ---- The context. */

struct tls_ctx {
    SSL_CTX *ssl;
    bool server_auth; /* made by tls_client_ctx_new: ordinary HTTPS servers */
};

void tls_ctx_free(struct tls_ctx *ctx)
{
    if (!ctx) return;
    SSL_CTX_free(ctx->ssl);
    free(ctx);
}

int tls_ctx_new(struct tls_ctx **out, const uint8_t sk[static TLS_SK_LEN], const char *cert_pem,
                const char *ca_pem, const uint8_t *root_key, char *err, size_t errlen)
{
    *out = NULL;
    ERR_clear_error();
    int rc = GIF_E_INVALID;
    struct tls_ctx *t = NULL;
    X509 *cert = pem_to_x509(cert_pem), *ca = pem_to_x509(ca_pem);
    X509_STORE *store = NULL;
    EVP_PKEY *k = pkey_from_sk(sk);
    if (!cert || !ca) {
        gif_seterr(err, errlen, "%s: not a PEM certificate",
                   !cert ? "node certificate" : "root certificate");
        goto out;
    }
    if (!k) {
        gif_seterr(err, errlen, "node key: not a valid Ed25519 secret key");
        goto out;
    }
    if (EVP_PKEY_eq(X509_get0_pubkey(cert), k) != 1) {
        gif_seterr(err, errlen, "node certificate: issued for another key than the node's");
        goto out;
    }
    if (root_key) {
        uint8_t rk[TLS_KEY_LEN];
        size_t n = sizeof rk;
        EVP_PKEY *cak = X509_get0_pubkey(ca);
        if (!cak || EVP_PKEY_get_id(cak) != EVP_PKEY_ED25519 ||
            EVP_PKEY_get_raw_public_key(cak, rk, &n) != 1 || n != TLS_KEY_LEN ||
            memcmp(rk, root_key, TLS_KEY_LEN) != 0) {
            gif_seterr(err, errlen, "root certificate: its key is not the consortium's root key");
            rc = GIF_E_ROOT;
            goto out;
        }
    }
    char why[TLS_REASON_MAX];
    rc = check_issued(cert, ca, why, sizeof why);
    if (rc) {
        gif_seterr(err, errlen, "node certificate: %s", why);
        goto out;
    }
    rc = -ENOMEM;
    t = calloc(1, sizeof *t);
    store = trust_store(ca);
    if (!t || !store || !(t->ssl = SSL_CTX_new(TLS_method()))) {
        gif_seterr(err, errlen, "TLS context: out of memory");
        goto out;
    }
    SSL_CTX *s = t->ssl;
    rc = GIF_E_INVALID;
    /* Each call below only fails on a bad argument or no memory: one message covers them. */
    if (SSL_CTX_set_min_proto_version(s, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION) != 1 ||
        SSL_CTX_use_certificate(s, cert) != 1 || SSL_CTX_use_PrivateKey(s, k) != 1 ||
        SSL_CTX_check_private_key(s) != 1 || SSL_CTX_set1_sigalgs_list(s, "ed25519") != 1 ||
        SSL_CTX_set1_client_sigalgs_list(s, "ed25519") != 1 || SSL_CTX_set_num_tickets(s, 0) != 1) {
        gif_seterr(err, errlen, "TLS context: %s", ossl_reason());
        goto out;
    }
    SSL_CTX_set_cert_store(s, store); /* the context owns it now */
    store = NULL;
    SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_verify_depth(s, 0);
    /* The handshake verifies with the context's parameters merged over the store's: set the
     * strict flag on both, so it holds whichever wins. */
    X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(s), X509_V_FLAG_X509_STRICT);
    /* Identity is the key in the certificate; each link is a fresh full handshake (about
     * 1 ms), so resumption would only add state to keep and reason about. */
    SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(s, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_max_cert_list(s, TLS_CERT_LIST_MAX);
    /* Idle links then hold no 16 KiB record buffers. */
    SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
    *out = t;
    t = NULL;
    rc = 0;
out:
    X509_STORE_free(store);
    tls_ctx_free(t);
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(k);
    ERR_clear_error();
    return rc;
}

/* Reads a whole PEM file (at most TLS_PEM_MAX bytes) into a malloc'd string. */
static int read_pem(const char *path, char **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        gif_seterr(err, errlen, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    char *buf = malloc(TLS_PEM_MAX + 1);
    size_t n = buf ? fread(buf, 1, TLS_PEM_MAX + 1, f) : 0;
    int bad = !buf ? -ENOMEM : ferror(f) ? -EIO : n > TLS_PEM_MAX ? GIF_E_TOOBIG : 0;
    fclose(f);
    if (bad) {
        free(buf);
        gif_seterr(err, errlen, "%s: %s", path,
                   bad == GIF_E_TOOBIG ? "larger than 64 KiB: not a certificate"
                                       : gif_strerror(bad));
        return bad;
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}

int tls_ctx_load(struct tls_ctx **out, const char *key_path, const char *cert_path,
                 const char *ca_path, const uint8_t *root_key, char *err, size_t errlen)
{
    *out = NULL;
    char *cert = NULL, *ca = NULL, why[512];
    uint8_t *sk = sodium_malloc(TLS_SK_LEN);
    if (!sk) {
        gif_seterr(err, errlen, "%s: out of memory", key_path);
        return -ENOMEM;
    }
    int rc = proto_keyfile_read_sk(key_path, sk, why, sizeof why);
    if (rc) {
        gif_seterr(err, errlen, "%s", why);
        goto out;
    }
    if ((rc = read_pem(cert_path, &cert, err, errlen)) != 0 ||
        (rc = read_pem(ca_path, &ca, err, errlen)) != 0)
        goto out;
    rc = tls_ctx_new(out, sk, cert, ca, root_key, why, sizeof why);
    /* Which file is at fault: tls_ctx_new says "node certificate: ..." or "root ...". */
    if (rc)
        gif_seterr(err, errlen, "%s: %s", strncmp(why, "root", 4) == 0 ? ca_path : cert_path, why);
out:
    sodium_memzero(sk, TLS_SK_LEN);
    sodium_free(sk);
    free(cert);
    free(ca);
    return rc;
}

/* ---- The connection engine. */

struct tls_conn {
    SSL *ssl;
    BIO *in;  /* ciphertext from the peer; SSL reads it */
    BIO *out; /* ciphertext to the peer; SSL writes it */
    enum tls_state state;
    bool expect;
    uint8_t expect_pk[TLS_KEY_LEN];
    uint8_t peer_pk[TLS_KEY_LEN];
    char peer_org[ORG_BUF];
    int alert; /* the last fatal alert the peer sent, -1 if none */
    int code;  /* the failure's code, once TLS_FAILED */
    char reason[TLS_REASON_MAX];
    bool server_auth; /* tls_conn_new_host: an ordinary HTTPS server, host below */
    char host[HOST_MAX];
};

/* Records alerts the peer sends: after a failure they say what the peer refused. */
static void info_cb(const SSL *ssl, int where, int ret)
{
    /* SSL_CB_READ_ALERT shares its SSL_CB_ALERT bit with SSL_CB_WRITE_ALERT: test both. */
    if (!(where & SSL_CB_ALERT) || !(where & SSL_CB_READ)) return;
    struct tls_conn *c = SSL_get_app_data(ssl);
    if (c && (ret >> 8) == SSL3_AL_FATAL) c->alert = ret & 0xff;
}

int tls_conn_new(struct tls_conn **out, struct tls_ctx *ctx, enum tls_role role,
                 const uint8_t *expect_pk)
{
    *out = NULL;
    struct tls_conn *c = calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    c->alert = -1;
    c->ssl = SSL_new(ctx->ssl);
    c->in = BIO_new(BIO_s_mem());
    c->out = BIO_new(BIO_s_mem());
    if (!c->ssl || !c->in || !c->out) {
        BIO_free(c->in);
        BIO_free(c->out);
        SSL_free(c->ssl);
        free(c);
        ERR_clear_error();
        return -ENOMEM;
    }
    /* An empty input BIO means "no bytes yet", not end of stream. */
    BIO_set_mem_eof_return(c->in, -1);
    BIO_set_mem_eof_return(c->out, -1);
    SSL_set_bio(c->ssl, c->in, c->out); /* the SSL owns both BIOs now */
    SSL_set_app_data(c->ssl, c);
    SSL_set_info_callback(c->ssl, info_cb);
    if (role == TLS_CLIENT)
        SSL_set_connect_state(c->ssl);
    else
        SSL_set_accept_state(c->ssl);
    if (expect_pk) {
        c->expect = true;
        memcpy(c->expect_pk, expect_pk, TLS_KEY_LEN);
    }
    *out = c;
    return 0;
}

void tls_conn_free(struct tls_conn *c)
{
    if (!c) return;
    SSL_free(c->ssl);
    free(c);
}

static int fail(struct tls_conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct tls_conn *c, int code, const char *fmt, ...)
{
    if (c->state != TLS_FAILED) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->reason, sizeof c->reason, fmt, ap);
        va_end(ap);
        c->state = TLS_FAILED;
        c->code = code;
    }
    ERR_clear_error();
    return code;
}

static bool cert_alert(int a)
{
    return a == SSL3_AD_BAD_CERTIFICATE || a == SSL3_AD_UNSUPPORTED_CERTIFICATE ||
           a == SSL3_AD_CERTIFICATE_REVOKED || a == SSL3_AD_CERTIFICATE_EXPIRED ||
           a == SSL3_AD_CERTIFICATE_UNKNOWN || a == TLS1_AD_UNKNOWN_CA ||
           a == TLS1_AD_ACCESS_DENIED || a == TLS13_AD_CERTIFICATE_REQUIRED;
}

static int web_failed(struct tls_conn *c, int e);

/* Turns an SSL failure (handshake or record layer) into a state, a reason and a code. */
static int ssl_failed(struct tls_conn *c, int ret)
{
    int e = SSL_get_error(c->ssl, ret);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return -EAGAIN;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
        c->state = TLS_CLOSED;
        ERR_clear_error();
        return 0;
    }
    if (c->server_auth) return web_failed(c, e);
    long v = SSL_get_verify_result(c->ssl);
    if (v != X509_V_OK) {
        char r[TLS_REASON_MAX];
        verify_reason(v, r, sizeof r);
        return fail(c, -EACCES, "%s", r);
    }
    if (c->alert == SSL_AD_PROTOCOL_VERSION)
        return fail(c, -EPROTO, "protocol version: the peer refused TLS 1.3");
    if (c->alert >= 0)
        return fail(c, cert_alert(c->alert) ? -EACCES : -EPROTO,
                    "peer refused the connection: alert '%s'%s",
                    SSL_alert_desc_string_long(c->alert),
                    cert_alert(c->alert) ? " (it does not accept our certificate)" : "");
    unsigned long err = ERR_peek_last_error();
    int r = ERR_GET_LIB(err) == ERR_LIB_SSL ? ERR_GET_REASON(err) : 0;
    switch (r) {
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        return fail(c, -EACCES, "peer presented no certificate");
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
        return fail(c, -EPROTO, "protocol version: the peer does not speak TLS 1.3 (%s)",
                    ERR_reason_error_string(err));
    case SSL_R_EXCESSIVE_MESSAGE_SIZE:
        return fail(c, -EPROTO, "peer sent a handshake message over the size cap");
    default:
        if (err) return fail(c, -EPROTO, "TLS error: %s", ERR_reason_error_string(err));
        return fail(c, -EPROTO, "TLS error (SSL_get_error %d)", e);
    }
}

/* After the handshake: the peer's Ed25519 key and organisation, and the dialled key check. */
static int take_peer(struct tls_conn *c)
{
    /* An HTTPS server: OpenSSL verified its chain and host name during the handshake. */
    if (c->server_auth) {
        ERR_clear_error();
        c->state = TLS_ESTABLISHED;
        return 0;
    }
    X509 *x = SSL_get0_peer_certificate(c->ssl);
    EVP_PKEY *k = x ? X509_get0_pubkey(x) : NULL;
    if (!k) return fail(c, -EACCES, "peer presented no certificate");
    size_t n = TLS_KEY_LEN;
    if (EVP_PKEY_get_id(k) != EVP_PKEY_ED25519 ||
        EVP_PKEY_get_raw_public_key(k, c->peer_pk, &n) != 1 || n != TLS_KEY_LEN)
        return fail(c, -EACCES, "peer certificate: its key is not Ed25519");
    if (c->expect && memcmp(c->peer_pk, c->expect_pk, TLS_KEY_LEN) != 0) {
        char want[2 * TLS_KEY_LEN + 1], got[2 * TLS_KEY_LEN + 1];
        gif_hex(want, c->expect_pk, TLS_KEY_LEN);
        gif_hex(got, c->peer_pk, TLS_KEY_LEN);
        return fail(c, -EACCES, "peer key %.16s... is not the member dialled (%.16s...)", got,
                    want);
    }
    c->peer_org[0] = '\0';
    X509_NAME *name = X509_get_subject_name(x);
    int i = X509_NAME_get_index_by_NID(name, NID_organizationName, -1);
    unsigned char *u = NULL;
    int len = i >= 0
                  ? ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)))
                  : -1;
    if (len > 0) {
        size_t m = (size_t)len < sizeof c->peer_org ? (size_t)len : sizeof c->peer_org - 1;
        /* The root issued it, but it still reaches logs: no control characters. */
        for (size_t j = 0; j < m; j++)
            c->peer_org[j] = (u[j] < 0x20 || u[j] == 0x7f) ? '?' : (char)u[j];
        c->peer_org[m] = '\0';
    }
    OPENSSL_free(u);
    ERR_clear_error();
    c->state = TLS_ESTABLISHED;
    return 0;
}

size_t tls_conn_in_room(const struct tls_conn *c)
{
    size_t p = BIO_ctrl_pending(c->in);
    return p >= TLS_CONN_IN_MAX ? 0 : TLS_CONN_IN_MAX - p;
}

int tls_conn_feed(struct tls_conn *c, const uint8_t *buf, size_t len)
{
    if (c->state == TLS_FAILED) return -EPIPE;
    if (len > tls_conn_in_room(c)) return GIF_E_TOOBIG;
    if (len == 0) return 0;
    ERR_clear_error();
    if (BIO_write(c->in, buf, (int)len) != (int)len) {
        ERR_clear_error();
        return -ENOMEM;
    }
    return 0;
}

int tls_conn_handshake(struct tls_conn *c)
{
    switch (c->state) {
    case TLS_ESTABLISHED:
    case TLS_CLOSED:
        return 0;
    case TLS_FAILED:
        return c->code;
    case TLS_HANDSHAKING:
        break;
    }
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) return take_peer(c);
    int rc = ssl_failed(c, r);
    /* A close_notify before the handshake finished is a failure, not a clean close. */
    if (rc == 0) {
        c->state = TLS_HANDSHAKING;
        return fail(c, -EPROTO, "peer closed the connection during the handshake");
    }
    return rc;
}

int tls_conn_read(struct tls_conn *c, uint8_t *buf, size_t cap, size_t *n)
{
    *n = 0;
    if (c->state == TLS_CLOSED) return 0;
    if (c->state == TLS_FAILED) return c->code;
    if (c->state != TLS_ESTABLISHED) return -ENOTCONN;
    /* Reading may make replies (key updates): none while the outgoing queue is full. */
    if (tls_conn_pending(c) >= TLS_CONN_OUT_MAX || cap == 0) return 0;
    ERR_clear_error();
    size_t got = 0;
    int r = SSL_read_ex(c->ssl, buf, cap, &got);
    if (r == 1) {
        *n = got;
        return 0;
    }
    int rc = ssl_failed(c, r);
    return rc == -EAGAIN ? 0 : rc;
}

size_t tls_conn_out_room(const struct tls_conn *c)
{
    if (c->state != TLS_ESTABLISHED) return 0;
    size_t p = tls_conn_pending(c);
    if (p >= TLS_CONN_OUT_MAX) return 0;
    size_t avail = TLS_CONN_OUT_MAX - p;
    size_t over = (avail / RECORD_PLAIN + 2) * RECORD_OVERHEAD;
    return avail > over ? avail - over : 0;
}

int tls_conn_write(struct tls_conn *c, const uint8_t *buf, size_t len)
{
    if (c->state == TLS_FAILED || c->state == TLS_CLOSED) return -EPROTO;
    if (c->state != TLS_ESTABLISHED) return -ENOTCONN;
    if (len > tls_conn_out_room(c)) return GIF_E_TOOBIG;
    if (len == 0) return 0;
    ERR_clear_error();
    size_t done = 0;
    int r = SSL_write_ex(c->ssl, buf, len, &done);
    if (r == 1 && done == len) return 0;
    int rc = ssl_failed(c, r);
    return rc ? rc : -EPROTO;
}

void tls_conn_close(struct tls_conn *c)
{
    if (c->state != TLS_ESTABLISHED && c->state != TLS_CLOSED) return;
    ERR_clear_error();
    SSL_shutdown(c->ssl);
    ERR_clear_error();
}

size_t tls_conn_pending(const struct tls_conn *c)
{
    return BIO_ctrl_pending(c->out);
}

int tls_conn_take(struct tls_conn *c, uint8_t *buf, size_t cap, size_t *n)
{
    *n = 0;
    size_t p = tls_conn_pending(c);
    if (p == 0 || cap == 0) return 0;
    int want = (int)(p < cap ? p : cap);
    int r = BIO_read(c->out, buf, want);
    if (r > 0) *n = (size_t)r;
    ERR_clear_error();
    return 0;
}

enum tls_state tls_conn_state(const struct tls_conn *c)
{
    return c->state;
}

const char *tls_conn_reason(const struct tls_conn *c)
{
    return c->reason;
}

int tls_conn_peer(const struct tls_conn *c, uint8_t pk[static TLS_KEY_LEN], char *org,
                  size_t orglen)
{
    if (c->state != TLS_ESTABLISHED && c->state != TLS_CLOSED) {
        memset(pk, 0, TLS_KEY_LEN);
        if (org && orglen) org[0] = '\0';
        return -ENOTCONN;
    }
    memcpy(pk, c->peer_pk, TLS_KEY_LEN);
    if (org && orglen) snprintf(org, orglen, "%s", c->peer_org);
    return 0;
}

/* ---- A server-authenticated client (tls.h). */

int tls_client_ctx_new(struct tls_ctx **out, const char *ca_path, char *err, size_t errlen)
{
    *out = NULL;
    ERR_clear_error();
    bool own = ca_path && ca_path[0];
    if (own) {
        /* OpenSSL's message for a missing file is vague: say which and why first. */
        FILE *f = fopen(ca_path, "rb");
        if (!f) {
            int e = errno;
            gif_seterr(err, errlen, "%s: cannot open: %s", ca_path, strerror(e));
            return -e;
        }
        fclose(f);
    }
    struct tls_ctx *t = calloc(1, sizeof *t);
    if (!t || !(t->ssl = SSL_CTX_new(TLS_client_method()))) {
        free(t);
        gif_seterr(err, errlen, "TLS client context: out of memory");
        ERR_clear_error();
        return -ENOMEM;
    }
    t->server_auth = true;
    SSL_CTX *s = t->ssl;
    if (SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION) != 1) {
        gif_seterr(err, errlen, "TLS client context: %s", ossl_reason());
        tls_ctx_free(t);
        return -ENOMEM;
    }
    if (own ? SSL_CTX_load_verify_file(s, ca_path) != 1
            : SSL_CTX_set_default_verify_paths(s) != 1) {
        if (own)
            gif_seterr(err, errlen, "%s: no PEM certificate could be read from it (%s)", ca_path,
                       ossl_reason());
        else
            gif_seterr(err, errlen, "the system trust store: %s", ossl_reason());
        tls_ctx_free(t);
        return GIF_E_INVALID;
    }
    SSL_CTX_set_verify(s, SSL_VERIFY_PEER, NULL);
    /* One request per connection, a few per minute at most: resumption is not worth its
     * state. */
    SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(s, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_max_cert_list(s, TLS_WEB_CERT_LIST_MAX);
    SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
    ERR_clear_error();
    *out = t;
    return 0;
}

int tls_conn_new_host(struct tls_conn **out, struct tls_ctx *ctx, const char *host)
{
    *out = NULL;
    if (!ctx->server_auth || !host || !host[0] || strlen(host) >= HOST_MAX) return -EINVAL;
    struct tls_conn *c;
    int rc = tls_conn_new(&c, ctx, TLS_CLIENT, NULL);
    if (rc) return rc;
    c->server_auth = true;
    snprintf(c->host, sizeof c->host, "%s", host);
    uint8_t a[16];
    bool ip = inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
    int ok;
    if (ip) {
        /* An address is matched against the certificate's IP entries, and never sent as SNI
         * (RFC 6066 allows names only). */
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host);
    } else {
        SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = SSL_set1_host(c->ssl, host) == 1 && SSL_set_tlsext_host_name(c->ssl, host) == 1;
    }
    ERR_clear_error();
    if (!ok) {
        tls_conn_free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

/* ssl_failed for a server-authenticated connection: the sentences name the server. */
static int web_failed(struct tls_conn *c, int e)
{
    long v = SSL_get_verify_result(c->ssl);
    if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)
        return fail(c, -EACCES, "the server's certificate is not for %s '%s'",
                    v == X509_V_ERR_HOSTNAME_MISMATCH ? "host" : "address", c->host);
    if (v != X509_V_OK)
        return fail(c, -EACCES, "the server's certificate does not verify: %s",
                    X509_verify_cert_error_string(v));
    if (c->alert == SSL_AD_PROTOCOL_VERSION)
        return fail(c, -EPROTO, "protocol version: the server refused TLS 1.2 and 1.3");
    if (c->alert >= 0)
        return fail(c, -EPROTO, "the server refused the connection: alert '%s'",
                    SSL_alert_desc_string_long(c->alert));
    unsigned long err = ERR_peek_last_error();
    int r = ERR_GET_LIB(err) == ERR_LIB_SSL ? ERR_GET_REASON(err) : 0;
    switch (r) {
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_HTTP_REQUEST:
        return fail(c, -EPROTO, "the server does not speak TLS 1.2 or 1.3 (%s): plain http?",
                    ERR_reason_error_string(err));
    case SSL_R_EXCESSIVE_MESSAGE_SIZE:
        return fail(c, -EPROTO, "the server sent a handshake message over the size cap");
    default:
        if (err) return fail(c, -EPROTO, "TLS error: %s", ERR_reason_error_string(err));
        return fail(c, -EPROTO, "TLS error (SSL_get_error %d)", e);
    }
}
