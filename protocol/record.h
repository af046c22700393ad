/*
 * gifnet records: the signed, append-only unit everything travels in.
 *
 * A record on the wire and on disk is the canonical msgpack array
 *     [ payload: bin, sig: bin(64) ]
 * where payload is the canonical msgpack array
 *     [ version, kind, origin, seq, prev, time, body ]
 * and sig is Ed25519(origin's secret key, payload bytes exactly). The record id is
 * SHA-256 of the whole record bytes. docs/protocol.md specifies every field to the byte.
 *
 * Decoding never allocates: a decoded struct proto_record points into the caller's buffer,
 * which must outlive it. Every length and count is checked against its cap (PROTO_*_MAX) and
 * against the bytes remaining before it is used.
 *
 * This module does no I/O.
 */
#ifndef GIF_PROTOCOL_RECORD_H
#define GIF_PROTOCOL_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION 1
#define PROTO_KEY_LEN 32 /* Ed25519 public key */
#define PROTO_SK_LEN 64  /* Ed25519 secret key (libsodium layout: seed || public key) */
#define PROTO_SIG_LEN 64
#define PROTO_ID_LEN 32 /* SHA-256 */

/* Caps, all checked before use. */
#define PROTO_RECORD_MAX (256 * 1024) /* a whole signed record, bytes */
#define PROTO_LABELS_MAX 16           /* labels per signal */
#define PROTO_LABEL_MAX 32            /* bytes per label */
#define PROTO_NAME_MAX 128            /* entity, detector, detector version, organisation */
#define PROTO_INCIDENT_MAX 64         /* incident id, bytes */
#define PROTO_TEXT_MAX 1024           /* reasons and notes */
#define PROTO_ALERT_SIGNALS_MAX 64    /* signals carried by one alert */
#define PROTO_ADDRS_MAX 8             /* advertised addresses per membership */
#define PROTO_ADDR_MAX 255            /* bytes per address */
#define PROTO_VPDQ_FRAMES_MAX 4096    /* frames in one vpdq value */
#define PROTO_VPDQ_FRAME_LEN 41       /* pdq(32) quality(1) frame(u32 BE) time_ms(u32 BE) */

enum proto_kind {
    PROTO_SIGNAL = 1,
    PROTO_ALERT = 2,
    PROTO_RETRACTION = 3,
    PROTO_FEEDBACK = 4,
    PROTO_MEMBERSHIP = 5,
    PROTO_REVOCATION = 6,
    PROTO_INCIDENT = 7, /* an agency's (or granted organisation's) change of an incident's state */
    PROTO_GRANT = 8,    /* the consortium root grants an organisation a right */
};
#define PROTO_KIND_MAX PROTO_GRANT

enum proto_stype {
    PROTO_ST_MD5 = 1,    /* 16 bytes */
    PROTO_ST_SHA256 = 2, /* 32 bytes */
    PROTO_ST_PDQ = 3,    /* 32 bytes, big-endian bit order as the reference hex */
    PROTO_ST_VPDQ = 4,   /* n * PROTO_VPDQ_FRAME_LEN bytes, 1 <= n <= PROTO_VPDQ_FRAMES_MAX */
    PROTO_ST_URL = 5,    /* 32 bytes: SHA-256 of the normalised URL */
};

enum proto_role {
    PROTO_ROLE_AGENCY = 1,
    PROTO_ROLE_PLATFORM = 2,
    PROTO_ROLE_OBSERVER = 3,
};

enum proto_content {
    PROTO_CT_UNKNOWN = 0,
    PROTO_CT_IMAGE = 1,
    PROTO_CT_VIDEO = 2,
    PROTO_CT_AUDIO = 3,
    PROTO_CT_TEXT = 4,
    PROTO_CT_URL = 5,
    PROTO_CT_FILE = 6,
};

enum proto_fb {
    PROTO_FB_AGREE = 1,
    PROTO_FB_DISAGREE = 2,
    PROTO_FB_SEEN = 3,
    PROTO_FB_BLOCKED = 4,
    PROTO_FB_FALSE_POSITIVE = 5,
};
#define PROTO_FB_COUNT 5

enum proto_action {
    PROTO_ACT_ESCALATE = 1,
    PROTO_ACT_DEESCALATE = 2,
    PROTO_ACT_CONCLUDE = 3,
    PROTO_ACT_REOPEN = 4,
};

enum proto_right {
    PROTO_RIGHT_INCIDENTS = 1, /* may publish incident records, as an agency does */
};

enum proto_level {
    PROTO_LEVEL_SITUATIONAL = 1, /* situational awareness */
    PROTO_LEVEL_INCIDENT = 2,    /* content incident */
    PROTO_LEVEL_PROTOCOL = 3,    /* content incident protocol */
};

/* A byte string inside the caller's buffer; not NUL-terminated. */
struct proto_bytes {
    const uint8_t *p;
    size_t n;
};
/* A UTF-8 string inside the caller's buffer (validated, no NUL); not NUL-terminated. */
struct proto_str {
    const char *p;
    size_t n;
};

struct proto_signal {
    uint8_t stype; /* enum proto_stype */
    struct proto_bytes value;
    size_t nlabels;
    struct proto_str labels[PROTO_LABELS_MAX]; /* behaviour labels, [a-z0-9_], see taxonomy */
    struct proto_str entity;                   /* may be empty */
    struct proto_str incident;                 /* may be empty */
    uint8_t content;                           /* enum proto_content */
    uint8_t confidence;                        /* 0..100 */
    uint64_t expires_ms;                       /* 0 = never */
    bool verified;                             /* only an agency may set it */
    struct proto_str source; /* where an imported signal came from; may be empty */
};

struct proto_sigref {
    uint8_t stype;
    struct proto_bytes value;
};

struct proto_alert {
    struct proto_str incident; /* non-empty */
    uint8_t level;             /* enum proto_level */
    struct proto_str detector; /* may be empty for an analyst's alert */
    struct proto_str detector_version;
    uint16_t score; /* 0..10000, the detector's score times 10000 */
    size_t nsignals;
    struct proto_sigref signals[PROTO_ALERT_SIGNALS_MAX];
    struct proto_str note;
};

struct proto_retraction {
    uint8_t target[PROTO_ID_LEN];
    struct proto_str reason;
};

struct proto_feedback {
    uint8_t target[PROTO_ID_LEN];
    uint8_t verdict; /* enum proto_fb */
    struct proto_str note;
};

struct proto_incident {
    struct proto_str incident; /* non-empty */
    uint8_t action;            /* enum proto_action */
    uint8_t level;             /* enum proto_level: the incident's level after the action */
    struct proto_str note;
};

struct proto_grant {
    struct proto_str org; /* non-empty */
    uint8_t right;        /* enum proto_right */
    bool granted;         /* false withdraws it */
};

struct proto_membership {
    uint8_t key[PROTO_KEY_LEN];
    struct proto_str org; /* non-empty */
    uint8_t role;         /* enum proto_role */
    uint64_t not_before_ms;
    uint64_t not_after_ms; /* 0 = no end */
    size_t naddrs;
    struct proto_str addrs[PROTO_ADDRS_MAX]; /* host:port the member's peers listen on */
};

struct proto_revocation {
    uint8_t key[PROTO_KEY_LEN];
    struct proto_str reason;
};

struct proto_record {
    uint32_t version;
    uint8_t kind; /* enum proto_kind */
    uint8_t origin[PROTO_KEY_LEN];
    uint64_t seq;               /* >= 1 */
    uint8_t prev[PROTO_ID_LEN]; /* all zero when seq == 1 */
    uint64_t time_ms;
    union {
        struct proto_signal signal;
        struct proto_alert alert;
        struct proto_retraction retraction;
        struct proto_feedback feedback;
        struct proto_membership membership;
        struct proto_revocation revocation;
        struct proto_incident incident;
        struct proto_grant grant;
    } u;
    /* Filled by proto_decode (and by proto_sign for the record it produced): */
    struct proto_bytes payload; /* the exact signed bytes */
    uint8_t sig[PROTO_SIG_LEN];
    uint8_t id[PROTO_ID_LEN];
};

/*
 * Decodes and validates the structure of one signed record occupying exactly buf[0..len).
 * Does not check the signature (see proto_verify). Returns 0, or GIF_E_MALFORMED,
 * GIF_E_NONCANONICAL, GIF_E_VERSION, GIF_E_TOOBIG or GIF_E_INVALID; *out is zeroed on failure.
 * On success *out points into buf.
 */
int proto_decode(struct proto_record *out, const uint8_t *buf, size_t len);

/*
 * proto_decode for bytes whose id the caller already holds: read back from the store under
 * that id, or hashed when the same bytes were checked earlier. Sets out->id to id instead of
 * hashing buf (SHA-256 is about 0.8 us of a record's 1-2 us decode on this machine class);
 * everything else is checked as by proto_decode. A wrong id is the caller's bug.
 */
int proto_decode_known(struct proto_record *out, const uint8_t *buf, size_t len,
                       const uint8_t id[static PROTO_ID_LEN]);

/* Checks r->sig over r->payload under r->origin. Returns 0 or GIF_E_BADSIG. */
int proto_verify(const struct proto_record *r);

/*
 * Encodes the payload of draft (version, kind, origin, seq, prev, time and body; the id,
 * sig and payload fields are ignored), signs it with sk and returns the signed record in a
 * malloc'd buffer that the caller frees. draft->origin must be sk's public key. Validates
 * draft as proto_decode would. Returns 0, GIF_E_INVALID, GIF_E_TOOBIG or -ENOMEM; on
 * failure *out is NULL and *outlen 0.
 */
int proto_sign(const struct proto_record *draft, const uint8_t sk[static PROTO_SK_LEN],
               uint8_t **out, size_t *outlen);

/* SHA-256 of buf: the id of a record whose bytes are buf. */
void proto_record_id(uint8_t id[static PROTO_ID_LEN], const uint8_t *buf, size_t len);

/* Key pairs (libsodium Ed25519). proto_keygen fills pk and sk from the system RNG. */
void proto_keygen(uint8_t pk[static PROTO_KEY_LEN], uint8_t sk[static PROTO_SK_LEN]);
/* Derives the public key of a secret key. */
void proto_sk_to_pk(uint8_t pk[static PROTO_KEY_LEN], const uint8_t sk[static PROTO_SK_LEN]);

/* Name tables; each name is the one used in JSON, config and the CLI. The *_name functions
 * return NULL for an unknown value; the *_parse functions return 0 or GIF_E_INVALID. */
const char *proto_kind_name(uint8_t kind);
int proto_kind_parse(const char *s, uint8_t *out);
const char *proto_stype_name(uint8_t stype);
int proto_stype_parse(const char *s, uint8_t *out);
/* Expected value length of a fixed-length signal type, or 0 for vpdq/unknown. */
size_t proto_stype_len(uint8_t stype);
const char *proto_role_name(uint8_t role);
int proto_role_parse(const char *s, uint8_t *out);
const char *proto_content_name(uint8_t ct);
int proto_content_parse(const char *s, uint8_t *out);
const char *proto_fb_name(uint8_t verdict);
int proto_fb_parse(const char *s, uint8_t *out);
const char *proto_level_name(uint8_t level);
int proto_level_parse(const char *s, uint8_t *out);
const char *proto_action_name(uint8_t action);
int proto_action_parse(const char *s, uint8_t *out);
const char *proto_right_name(uint8_t right);
int proto_right_parse(const char *s, uint8_t *out);

/* The behaviour-label taxonomy (docs/protocol.md). Returns true for a known label. The
 * decoder accepts any [a-z0-9_] label so that a newer taxonomy does not split the network;
 * the API accepts only known ones. */
bool proto_label_known(const char *s, size_t n);
/* NULL-terminated list of known labels. */
extern const char *const proto_labels[];

/* Returns true if the 32-byte value is all zero. */
bool proto_is_zero(const uint8_t *p, size_t n);

#endif
