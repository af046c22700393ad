/*
 * TLS for the consortium's peer links: certificates issued under the consortium root, a TLS
 * 1.3 mutual-authentication context, and a connection engine that does no I/O.
 *
 * Every key in gifnet is Ed25519, and so is every certificate: the consortium root's key signs
 * its own CA certificate and each node's certificate; a node's certificate carries the node's
 * record-signing key. So the key a peer proves in the handshake is the key its records are
 * signed with, and the node checks membership and revocation by that key against its store
 * (the certificate only proves that the root issued it at some point).
 *
 * The engine (struct tls_conn) runs OpenSSL over memory BIOs: the caller moves ciphertext
 * between the engine and its socket, and plaintext between the engine and its frame parser.
 * Nothing here blocks, reads a socket or includes uv.h. Every buffer is capped:
 *   - ciphertext received and not yet decrypted: TLS_CONN_IN_MAX bytes (tls_conn_feed refuses
 *     more; size reads with tls_conn_in_room and stop reading while it is 0);
 *   - ciphertext waiting to be sent: TLS_CONN_OUT_MAX bytes (tls_conn_write refuses plaintext
 *     that could take it beyond the cap; see tls_conn_out_room);
 *   - plaintext: none is queued here; OpenSSL decrypts one record (at most 16 KiB) at a time as
 *     tls_conn_read asks for it;
 *   - the peer's certificate list: TLS_CERT_LIST_MAX bytes.
 *
 * Secrets: keys are taken as libsodium 64-byte secret keys (seed || public key), which the
 * caller keeps in sodium_malloc'd memory. The seed is handed to OpenSSL once, when a context
 * or certificate is made; OpenSSL keeps its own copy inside the EVP_PKEY and clears it when
 * the key is freed. No function here logs or copies a secret elsewhere.
 */
#ifndef GIF_NODE_TLS_H
#define GIF_NODE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLS_KEY_LEN 32                 /* Ed25519 public key */
#define TLS_SK_LEN 64                  /* libsodium Ed25519 secret key: seed || public key */
#define TLS_ORG_MAX 64                 /* X.509 upper bound for O (ub-organization-name) */
#define TLS_CONN_IN_MAX (256 * 1024)   /* ciphertext received, not yet decrypted */
#define TLS_CONN_OUT_MAX (1024 * 1024) /* ciphertext encrypted, not yet taken for sending */
#define TLS_CERT_LIST_MAX (16 * 1024)  /* the peer's certificate message */
#define TLS_PEM_MAX (64 * 1024)        /* a certificate file read by tls_ctx_load */
#define TLS_ROOT_YEARS 20              /* the root certificate's validity */
#define TLS_NODE_YEARS 5               /* a node certificate's validity if membership has no end */
#define TLS_REASON_MAX 256

/* ---- Certificates (pure functions: usable from gifctl and the node alike). */

/*
 * Makes the consortium root's self-signed CA certificate with root_sk (64-byte secret key):
 * subject CN "gifnet consortium root", O = name (its first TLS_ORG_MAX bytes, cut at a
 * character boundary; omitted when empty), a random serial, valid from an hour before now_ms
 * (so that nodes whose clocks run a little behind accept it) for TLS_ROOT_YEARS years,
 * basicConstraints CA:TRUE (critical), keyUsage keyCertSign and cRLSign.
 * On success returns 0 and sets *pem to a malloc'd, NUL-terminated PEM text of *pemlen bytes
 * (the caller frees it). On failure returns a negative code, sets *pem to NULL and writes a
 * sentence into err.
 */
int tls_root_cert(const uint8_t root_sk[static TLS_SK_LEN], const char *name, uint64_t now_ms,
                  char **pem, size_t *pemlen, char *err, size_t errlen);

/*
 * Issues a node certificate for node_pk, signed by root_sk, whose own certificate is root_pem
 * (the issuer name is taken from it; GIF_E_ROOT if root_sk is not that certificate's key).
 * Subject O = org (first TLS_ORG_MAX bytes), CN = the 64 hex digits of node_pk;
 * basicConstraints CA:FALSE, keyUsage digitalSignature, extendedKeyUsage serverAuth and
 * clientAuth; valid from not_before_ms to not_after_ms, or for TLS_NODE_YEARS years when
 * not_after_ms is 0 (open-ended membership). Times are ms since the epoch, truncated to
 * seconds. Returns 0 with *pem a malloc'd NUL-terminated PEM text (the caller frees it), or a
 * negative code with *pem NULL and a sentence in err.
 */
int tls_node_cert(const uint8_t root_sk[static TLS_SK_LEN], const char *root_pem,
                  const uint8_t node_pk[static TLS_KEY_LEN], const char *org,
                  uint64_t not_before_ms, uint64_t not_after_ms, char **pem, size_t *pemlen,
                  char *err, size_t errlen);

/*
 * Checks that cert_pem was issued by ca_pem (signature, validity at now, purposes, X.509
 * strictness), as a peer would. Returns 0, or GIF_E_INVALID with the reason in err.
 */
int tls_cert_check(const char *cert_pem, const char *ca_pem, char *err, size_t errlen);

/* ---- The TLS context: one per node, shared by all its connections (client and server). */

struct tls_ctx;

/*
 * Makes a context for a node: TLS 1.3 only, Ed25519 signatures, the node's key sk (its seed
 * is copied into OpenSSL; the caller still owns and wipes sk) and certificate cert_pem, ca_pem
 * as the only trust anchor, peer certificates required both ways, X.509 strict checking, no
 * session tickets or resumption. Refuses (GIF_E_INVALID, with the reason in err) a certificate
 * that is not for sk, that ca_pem did not issue, or a CA whose key is not root_key (when
 * root_key is not NULL: the consortium root from the config). Returns 0 and *out (free with
 * tls_ctx_free), or a negative code with *out NULL.
 */
int tls_ctx_new(struct tls_ctx **out, const uint8_t sk[static TLS_SK_LEN], const char *cert_pem,
                const char *ca_pem, const uint8_t *root_key, char *err, size_t errlen);

/*
 * As tls_ctx_new, reading the node's secret key file (protocol/keyfile.h) into sodium_malloc'd
 * memory that is wiped and freed before returning, and the PEM files cert_path and ca_path
 * (each at most TLS_PEM_MAX bytes). Messages in err name the file.
 */
int tls_ctx_load(struct tls_ctx **out, const char *key_path, const char *cert_path,
                 const char *ca_path, const uint8_t *root_key, char *err, size_t errlen);

/* Frees a context. Connections made from it hold their own reference and stay usable. */
void tls_ctx_free(struct tls_ctx *ctx);

/* ---- The connection engine. */

enum tls_role { TLS_CLIENT = 0, TLS_SERVER = 1 };

enum tls_state {
    TLS_HANDSHAKING = 0,
    TLS_ESTABLISHED = 1, /* handshake done: peer key and organisation available */
    TLS_CLOSED = 2,      /* the peer sent close_notify */
    TLS_FAILED = 3,      /* see tls_conn_reason */
};

struct tls_conn;

/*
 * Makes a connection engine for one TCP connection, as client (the side that dialled) or
 * server. A client that dialled a known member may pass that member's key as expect_pk: the
 * handshake then fails unless the peer proves that key; NULL accepts any certificate the root
 * issued. Returns 0 and *out (free with tls_conn_free), or -ENOMEM with *out NULL.
 */
int tls_conn_new(struct tls_conn **out, struct tls_ctx *ctx, enum tls_role role,
                 const uint8_t *expect_pk);

void tls_conn_free(struct tls_conn *c);

/* How many ciphertext bytes tls_conn_feed accepts now (TLS_CONN_IN_MAX minus what waits). */
size_t tls_conn_in_room(const struct tls_conn *c);

/*
 * Queues len bytes of ciphertext received from the peer. Returns 0, or GIF_E_TOOBIG (nothing
 * queued) when they do not fit in tls_conn_in_room, or -EPIPE once the connection failed.
 * Progress is made by tls_conn_handshake and tls_conn_read.
 */
int tls_conn_feed(struct tls_conn *c, const uint8_t *buf, size_t len);

/*
 * Drives the handshake with what has been fed. Returns 0 once established (and on every call
 * after), -EAGAIN while it needs more bytes from the peer (send what tls_conn_take gives
 * first), or on failure -EACCES (a certificate was refused or missing, either side) or -EPROTO
 * (anything else, e.g. the protocol version) with the reason in tls_conn_reason.
 *
 * In TLS 1.3 the client finishes before the server has checked the client's certificate: a
 * server's refusal reaches the client as an alert on its next tls_conn_read. So a node sends
 * nothing that matters until it has read the peer's first message.
 */
int tls_conn_handshake(struct tls_conn *c);

/*
 * Reads up to cap bytes of plaintext into buf, *n set to the count. Returns 0 (with *n 0 when
 * nothing is available yet, or when the peer has closed: see tls_conn_state), or -EPROTO /
 * -EACCES on failure (reason in tls_conn_reason), or -ENOTCONN before the handshake is done.
 */
int tls_conn_read(struct tls_conn *c, uint8_t *buf, size_t cap, size_t *n);

/* How many plaintext bytes tls_conn_write accepts now (0 unless established). */
size_t tls_conn_out_room(const struct tls_conn *c);

/*
 * Encrypts all len bytes of plaintext for sending. Returns 0, GIF_E_TOOBIG (nothing written)
 * when len exceeds tls_conn_out_room (take and send the queued ciphertext first), -ENOTCONN
 * before the handshake is done, or -EPROTO on failure.
 */
int tls_conn_write(struct tls_conn *c, const uint8_t *buf, size_t len);

/* Queues close_notify for the peer (take and send it, then close the socket). */
void tls_conn_close(struct tls_conn *c);

/* Ciphertext bytes waiting to be sent. */
size_t tls_conn_pending(const struct tls_conn *c);

/*
 * Moves up to cap bytes of ciphertext to send into buf, *n set to the count (0 when none).
 * Returns 0. Call after every feed, handshake, write and read: each may produce bytes to send
 * (handshake messages, alerts).
 */
int tls_conn_take(struct tls_conn *c, uint8_t *buf, size_t cap, size_t *n);

enum tls_state tls_conn_state(const struct tls_conn *c);

/* Why the connection failed: a static-lifetime-of-c sentence, "" while it has not. */
const char *tls_conn_reason(const struct tls_conn *c);

/*
 * After the handshake: copies the peer's Ed25519 public key into pk and the organisation (O)
 * of its certificate, NUL-terminated and cut to orglen - 1 bytes, into org (may be NULL).
 * Returns 0, or -ENOTCONN before the handshake is done.
 */
int tls_conn_peer(const struct tls_conn *c, uint8_t pk[static TLS_KEY_LEN], char *org,
                  size_t orglen);

/* ---- A server-authenticated client, for ordinary HTTPS servers (the webhook's receiver).
 *
 * Not the consortium's TLS: TLS 1.2 or 1.3, the server's certificate (any key type) verified
 * against a trust store and the host name dialled, no client certificate. The engine is the
 * one above, driven the same way (feed, handshake, write, take, read); tls_conn_peer does not
 * apply (it answers a zero key and no organisation). */

#define TLS_WEB_CERT_LIST_MAX (64 * 1024) /* the server's certificate chain */

/*
 * Makes a client context that trusts the certificates in the PEM file ca_path or, when ca_path
 * is NULL or "", the system's trust store (OpenSSL's default paths: on Debian the
 * ca-certificates bundle), read now. No session resumption. Returns 0 and *out (free with
 * tls_ctx_free), or a negative code with *out NULL and a sentence naming the file in err.
 */
int tls_client_ctx_new(struct tls_ctx **out, const char *ca_path, char *err, size_t errlen);

/*
 * A client engine for ctx (from tls_client_ctx_new) on a connection to host: a DNS name
 * (sent as SNI, and matched against the certificate's names, a wildcard only as a whole
 * left-most label) or an IPv4/IPv6 address (matched against its IP address entries). The
 * handshake fails with -EACCES and a reason naming what was refused when the certificate does
 * not verify or is not for host. Returns 0 and *out, -EINVAL for a context of the consortium
 * kind or an empty host, or -ENOMEM.
 */
int tls_conn_new_host(struct tls_conn **out, struct tls_ctx *ctx, const char *host);

#endif
