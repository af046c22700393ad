/* Unit tests for protocol/: round trips, test vectors, and every rejection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "protocol/record.h"
#include "util/gif.h"

#define S(lit) ((struct proto_str){(lit), sizeof(lit) - 1})

/* Deterministic key from a seed byte, for vectors that never change. */
static void seed_key(uint8_t seedbyte, uint8_t pk[32], uint8_t sk[64])
{
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(seedbyte + i);
    crypto_sign_seed_keypair(pk, sk, seed);
}

static void base(struct proto_record *d, uint8_t kind, const uint8_t pk[32])
{
    memset(d, 0, sizeof *d);
    d->kind = kind;
    memcpy(d->origin, pk, 32);
    d->seq = 1;
    d->time_ms = 1795000000000ull;
}

static const uint8_t MD5[16] = {0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04,
                                0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42, 0x7e};

static void make_signal(struct proto_record *d, const uint8_t pk[32])
{
    base(d, PROTO_SIGNAL, pk);
    struct proto_signal *s = &d->u.signal;
    s->stype = PROTO_ST_MD5;
    s->value = (struct proto_bytes){MD5, 16};
    s->nlabels = 2;
    s->labels[0] = S("glorification");
    s->labels[1] = S("attack_footage"); /* out of order: the encoder sorts */
    s->entity = S("Example Group");
    s->incident = S("inc-2026-001");
    s->content = PROTO_CT_VIDEO;
    s->confidence = 90;
    s->expires_ms = 0;
    s->verified = false;
}

static uint8_t *sign_ok(const struct proto_record *d, const uint8_t sk[64], size_t *len)
{
    uint8_t *buf;
    assert_int_equal(proto_sign(d, sk, &buf, len), 0);
    assert_non_null(buf);
    return buf;
}

static void test_roundtrip_signal(void **state)
{
    (void)state;
    uint8_t pk[32], sk[64];
    proto_keygen(pk, sk);
    struct proto_record d, r;
    make_signal(&d, pk);
    size_t len;
    uint8_t *buf = sign_ok(&d, sk, &len);
    assert_int_equal(proto_decode(&r, buf, len), 0);
    assert_int_equal(proto_verify(&r), 0);
    assert_int_equal(r.kind, PROTO_SIGNAL);
    assert_int_equal(r.seq, 1);
    assert_int_equal(r.time_ms, 1795000000000ull);
    assert_memory_equal(r.origin, pk, 32);
    assert_int_equal(r.u.signal.stype, PROTO_ST_MD5);
    assert_memory_equal(r.u.signal.value.p, MD5, 16);
    assert_int_equal(r.u.signal.nlabels, 2);
    assert_int_equal(r.u.signal.labels[0].n, strlen("attack_footage"));
    assert_memory_equal(r.u.signal.labels[0].p, "attack_footage", 14);
    assert_int_equal(r.u.signal.confidence, 90);
    assert_int_equal(r.u.signal.content, PROTO_CT_VIDEO);
    uint8_t id[32];
    proto_record_id(id, buf, len);
    assert_memory_equal(id, r.id, 32);

    /* proto_decode_known: the same record, with the id given instead of hashed... */
    struct proto_record k;
    assert_int_equal(proto_decode_known(&k, buf, len, id), 0);
    assert_memory_equal(k.id, id, 32);
    assert_int_equal(k.seq, r.seq);
    assert_int_equal(k.payload.n, r.payload.n);
    assert_memory_equal(k.sig, r.sig, sizeof k.sig);
    assert_int_equal(proto_verify(&k), 0);
    /* ... and the same checks: a truncated record does not decode, and *out is zeroed. */
    assert_int_not_equal(proto_decode_known(&k, buf, len - 1, id), 0);
    assert_int_equal(k.seq, 0);
    free(buf);
}

static void test_roundtrip_all_kinds(void **state)
{
    (void)state;
    uint8_t pk[32], sk[64], other[32], osk[64];
    proto_keygen(pk, sk);
    proto_keygen(other, osk);
    uint8_t target[32];
    memset(target, 7, 32);
    struct proto_record d, r;
    size_t len;
    uint8_t *buf;

    base(&d, PROTO_ALERT, pk);
    d.u.alert.incident = S("inc-1");
    d.u.alert.level = PROTO_LEVEL_PROTOCOL;
    d.u.alert.detector = S("livestream");
    d.u.alert.detector_version = S("2.1");
    d.u.alert.score = 9700;
    d.u.alert.nsignals = 1;
    d.u.alert.signals[0] = (struct proto_sigref){PROTO_ST_MD5, {MD5, 16}};
    buf = sign_ok(&d, sk, &len);
    assert_int_equal(proto_decode(&r, buf, len), 0);
    assert_int_equal(r.u.alert.score, 9700);
    assert_int_equal(r.u.alert.nsignals, 1);
    assert_int_equal(r.u.alert.level, PROTO_LEVEL_PROTOCOL);
    free(buf);

    base(&d, PROTO_RETRACTION, pk);
    d.seq = 2;
    memset(d.prev, 1, 32);
    memcpy(d.u.retraction.target, target, 32);
    d.u.retraction.reason = S("false positive");
    buf = sign_ok(&d, sk, &len);
    assert_int_equal(proto_decode(&r, buf, len), 0);
    assert_memory_equal(r.u.retraction.target, target, 32);
    assert_memory_equal(r.prev, d.prev, 32);
    free(buf);

    base(&d, PROTO_FEEDBACK, pk);
    memcpy(d.u.feedback.target, target, 32);
    d.u.feedback.verdict = PROTO_FB_FALSE_POSITIVE;
    buf = sign_ok(&d, sk, &len);
    assert_int_equal(proto_decode(&r, buf, len), 0);
    assert_int_equal(r.u.feedback.verdict, PROTO_FB_FALSE_POSITIVE);
    free(buf);

    base(&d, PROTO_MEMBERSHIP, pk);
    memcpy(d.u.membership.key, other, 32);
    d.u.membership.org = S("Platform A");
    d.u.membership.role = PROTO_ROLE_PLATFORM;
    d.u.membership.not_before_ms = 1;
    d.u.membership.not_after_ms = 1ull << 40;
    d.u.membership.naddrs = 1;
    d.u.membership.addrs[0] = S("127.0.0.1:7481");
    buf = sign_ok(&d, sk, &len);
    assert_int_equal(proto_decode(&r, buf, len), 0);
    assert_memory_equal(r.u.membership.key, other, 32);
    assert_int_equal(r.u.membership.not_after_ms, 1ull << 40);
    assert_int_equal(r.u.membership.naddrs, 1);
    free(buf);

    base(&d, PROTO_REVOCATION, pk);
    memcpy(d.u.revocation.key, other, 32);
    d.u.revocation.reason = S("key compromised");
    buf = sign_ok(&d, sk, &len);
    assert_int_equal(proto_decode(&r, buf, len), 0);
    assert_memory_equal(r.u.revocation.key, other, 32);
    free(buf);
}

static void test_bad_signature(void **state)
{
    (void)state;
    uint8_t pk[32], sk[64], pk2[32], sk2[64];
    proto_keygen(pk, sk);
    proto_keygen(pk2, sk2);
    struct proto_record d, r;
    make_signal(&d, pk);
    size_t len;
    uint8_t *buf = sign_ok(&d, sk, &len);
    buf[len - 1] ^= 1; /* last signature byte */
    assert_int_equal(proto_decode(&r, buf, len), 0);
    assert_int_equal(proto_verify(&r), GIF_E_BADSIG);
    free(buf);
    /* Signing with a key that is not the origin is refused outright. */
    uint8_t *out;
    assert_int_not_equal(proto_sign(&d, sk2, &out, &len), 0);
    assert_null(out);
}

/* Builds a record whose payload is arbitrary bytes (properly signed) to test the decoder. */
static size_t wrap(uint8_t *out, const uint8_t *payload, size_t plen, const uint8_t sk[64])
{
    size_t o = 0;
    out[o++] = 0x92;
    if (plen < 256) {
        out[o++] = 0xc4;
        out[o++] = (uint8_t)plen;
    } else {
        out[o++] = 0xc5;
        out[o++] = (uint8_t)(plen >> 8);
        out[o++] = (uint8_t)plen;
    }
    memcpy(out + o, payload, plen);
    o += plen;
    out[o++] = 0xc4;
    out[o++] = 64;
    crypto_sign_detached(out + o, NULL, payload, plen, sk);
    return o + 64;
}

/* Returns the payload of a valid signed signal record (copied into p) and its length. */
static size_t valid_payload(uint8_t *p, uint8_t pk[32], uint8_t sk[64])
{
    struct proto_record d, r;
    make_signal(&d, pk);
    size_t len;
    uint8_t *buf = sign_ok(&d, sk, &len);
    assert_int_equal(proto_decode(&r, buf, len), 0);
    memcpy(p, r.payload.p, r.payload.n);
    size_t n = r.payload.n;
    free(buf);
    return n;
}

static int decode_payload(const uint8_t *p, size_t n, const uint8_t sk[64])
{
    uint8_t rec[2048];
    struct proto_record r;
    size_t len = wrap(rec, p, n, sk);
    return proto_decode(&r, rec, len);
}

static void test_rejections(void **state)
{
    (void)state;
    uint8_t pk[32], sk[64];
    seed_key(1, pk, sk);
    uint8_t p[1024], q[1100];
    size_t n = valid_payload(p, pk, sk);
    assert_int_equal(decode_payload(p, n, sk), 0);

    /* Layout of the valid payload: 97 01 01 c4 20 <origin 32> 01 c4 20 <prev 32> cf <8> 99 .. */
    assert_int_equal(p[0], 0x97);
    assert_int_equal(p[1], 0x01);

    /* Unknown version. */
    memcpy(q, p, n);
    q[1] = 0x02;
    assert_int_equal(decode_payload(q, n, sk), GIF_E_VERSION);

    /* Version 1 written as uint8 (0xcc 0x01): non-canonical. */
    q[0] = 0x97;
    q[1] = 0xcc;
    q[2] = 0x01;
    memcpy(q + 3, p + 2, n - 2);
    assert_int_equal(decode_payload(q, n + 1, sk), GIF_E_NONCANONICAL);

    /* Unknown kind. */
    memcpy(q, p, n);
    q[2] = 0x09;
    assert_int_equal(decode_payload(q, n, sk), GIF_E_INVALID);

    /* Array header in the long form where a fixarray fits: non-canonical. */
    q[0] = 0xdc;
    q[1] = 0x00;
    q[2] = 0x07;
    memcpy(q + 3, p + 1, n - 1);
    assert_int_equal(decode_payload(q, n + 2, sk), GIF_E_NONCANONICAL);

    /* Trailing byte after the payload array. */
    memcpy(q, p, n);
    q[n] = 0xc0;
    assert_int_equal(decode_payload(q, n + 1, sk), GIF_E_MALFORMED);

    /* Truncated payload. */
    assert_int_equal(decode_payload(p, n - 1, sk), GIF_E_MALFORMED);

    /* seq 1 with a non-zero prev. */
    memcpy(q, p, n);
    q[3 + 2 + 32 + 1 + 2] ^= 0xff;
    assert_int_equal(decode_payload(q, n, sk), GIF_E_INVALID);

    /* A 5-byte array32 header claiming 4 billion elements must not allocate or read past. */
    static const uint8_t huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    struct proto_record r;
    assert_int_equal(proto_decode(&r, huge, sizeof huge), GIF_E_MALFORMED);
    uint8_t rec[64] = {0x92, 0xc6, 0xff, 0xff, 0xff, 0xf0};
    assert_int_equal(proto_decode(&r, rec, 6), GIF_E_MALFORMED);

    /* Over the record cap. */
    uint8_t *big = calloc(1, PROTO_RECORD_MAX + 1);
    assert_int_equal(proto_decode(&r, big, PROTO_RECORD_MAX + 1), GIF_E_TOOBIG);
    free(big);

    /* Empty and garbage input. */
    assert_int_equal(proto_decode(&r, (const uint8_t *)"", 0), GIF_E_MALFORMED);
    assert_int_equal(proto_decode(&r, (const uint8_t *)"\xc0", 1), GIF_E_MALFORMED);
}

/* A signal payload with a given body, to test body rules. */
static int decode_signal_body(const uint8_t *body, size_t blen, const uint8_t pk[32],
                              const uint8_t sk[64])
{
    uint8_t p[1024];
    size_t o = 0;
    p[o++] = 0x97;
    p[o++] = 0x01;
    p[o++] = 0x01;
    p[o++] = 0xc4;
    p[o++] = 32;
    memcpy(p + o, pk, 32);
    o += 32;
    p[o++] = 0x01;
    p[o++] = 0xc4;
    p[o++] = 32;
    memset(p + o, 0, 32);
    o += 32;
    p[o++] = 0x05; /* time */
    memcpy(p + o, body, blen);
    o += blen;
    return decode_payload(p, o, sk);
}

static void test_signal_body_rules(void **state)
{
    (void)state;
    uint8_t pk[32], sk[64];
    seed_key(9, pk, sk);
    /* [stype md5, bin16, labels [], "", "", 0, 100, 0, false] */
    uint8_t ok[64] = {0x99, 0x01, 0xc4, 0x10};
    size_t o = 4;
    memcpy(ok + o, MD5, 16);
    o += 16;
    uint8_t tail[] = {0x90, 0xa0, 0xa0, 0x00, 0x64, 0x00, 0xc2};
    memcpy(ok + o, tail, sizeof tail);
    o += sizeof tail;
    assert_int_equal(decode_signal_body(ok, o, pk, sk), 0);

    uint8_t b[128];
    /* Wrong hash length for md5 (15 bytes). */
    memcpy(b, ok, o);
    b[3] = 0x0f;
    memmove(b + 4 + 15, b + 4 + 16, o - 20);
    assert_int_equal(decode_signal_body(b, o - 1, pk, sk), GIF_E_INVALID);
    /* Unknown signal type. */
    memcpy(b, ok, o);
    b[1] = 0x07;
    assert_int_equal(decode_signal_body(b, o, pk, sk), GIF_E_INVALID);
    /* Confidence 101. */
    memcpy(b, ok, o);
    b[o - 3] = 0x65;
    assert_int_equal(decode_signal_body(b, o, pk, sk), GIF_E_INVALID);
    /* A bool where nil stands: malformed. */
    memcpy(b, ok, o);
    b[o - 1] = 0xc0;
    assert_int_equal(decode_signal_body(b, o, pk, sk), GIF_E_MALFORMED);
    /* Labels out of order: ["b", "a"]. */
    size_t k = 0;
    memcpy(b, ok, 20);
    k = 20;
    uint8_t labels_bad[] = {0x92, 0xa1, 'b', 0xa1, 'a'};
    memcpy(b + k, labels_bad, sizeof labels_bad);
    k += sizeof labels_bad;
    memcpy(b + k, tail + 1, sizeof tail - 1);
    k += sizeof tail - 1;
    assert_int_equal(decode_signal_body(b, k, pk, sk), GIF_E_NONCANONICAL);
    /* Label with an upper-case letter. */
    b[20 + 2] = 'B';
    b[20 + 4] = 'c';
    assert_int_equal(decode_signal_body(b, k, pk, sk), GIF_E_INVALID);
    /* Entity with invalid UTF-8 (a lone continuation byte). */
    memcpy(b, ok, 20);
    k = 20;
    uint8_t bad_utf8[] = {0x90, 0xa1, 0x80, 0xa0, 0x00, 0x64, 0x00, 0xc2};
    memcpy(b + k, bad_utf8, sizeof bad_utf8);
    k += sizeof bad_utf8;
    assert_int_equal(decode_signal_body(b, k, pk, sk), GIF_E_INVALID);
    /* Overlong NUL (c0 80) in the entity. */
    uint8_t overlong[] = {0x90, 0xa2, 0xc0, 0x80, 0xa0, 0x00, 0x64, 0x00, 0xc2};
    memcpy(b + 20, overlong, sizeof overlong);
    assert_int_equal(decode_signal_body(b, 20 + sizeof overlong, pk, sk), GIF_E_INVALID);
    /* 17 labels: over the cap. */
    memcpy(b, ok, 20);
    k = 20;
    b[k++] = 0xdc;
    b[k++] = 0;
    b[k++] = 17;
    for (int i = 0; i < 17; i++) {
        b[k++] = 0xa1;
        b[k++] = (uint8_t)('a' + i);
    }
    memcpy(b + k, tail + 1, sizeof tail - 1);
    k += sizeof tail - 1;
    assert_int_equal(decode_signal_body(b, k, pk, sk), GIF_E_TOOBIG);
    /* A string shorter than 32 bytes in str8 form: non-canonical. */
    memcpy(b, ok, 20);
    uint8_t str8[] = {0x90, 0xd9, 0x01, 'x', 0xa0, 0x00, 0x64, 0x00, 0xc2};
    memcpy(b + 20, str8, sizeof str8);
    assert_int_equal(decode_signal_body(b, 20 + sizeof str8, pk, sk), GIF_E_NONCANONICAL);
}

/* Test vectors documented in docs/protocol.md: fixed keys, fixed fields. */
static const char *VEC_PK = "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664";
static const char *VEC_SIGNAL =
    "92c4a2970101c42079b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad04966401c4200000"
    "000000000000000000000000000000000000000000000000000000000000cf000001a1ee565e009901c410d41d"
    "8cd98f00b204e9800998ecf8427e92ae61747461636b5f666f6f74616765ad676c6f72696669636174696f6ead"
    "4578616d706c652047726f7570ac696e632d323032362d303031025a00c2c4406f6395e383be3d34cf9559b951"
    "bc0ae08726bbaa746c42d11e6d46c6d4d1e82cef4df941f1f5c6c4e3321da77c5fb1be7e2e8a5c2f23ba44b801"
    "f71d23d88a0e";
static const char *VEC_ID = "33ab886d7843a71620b23d44ffaa7525bf5bb5b4ac35bd7abab533e65945d137";

static void build_vector(struct proto_record *d, uint8_t pk[32], uint8_t sk[64])
{
    seed_key(1, pk, sk);
    make_signal(d, pk);
}

/* Kinds 7 and 8, and a signal's optional source: round trips and the rules of each field. */
static void test_incident_grant_source(void **state)
{
    (void)state;
    uint8_t pk[32], sk[64];
    seed_key(11, pk, sk);
    struct proto_record d, r;
    size_t len;
    uint8_t *buf;

    base(&d, PROTO_INCIDENT, pk);
    d.u.incident.incident = S("inc-2026-007");
    d.u.incident.action = PROTO_ACT_ESCALATE;
    d.u.incident.level = PROTO_LEVEL_PROTOCOL;
    d.u.incident.note = S("verified by the unit");
    buf = sign_ok(&d, sk, &len);
    assert_int_equal(proto_decode(&r, buf, len), 0);
    assert_int_equal(proto_verify(&r), 0);
    assert_int_equal(r.kind, PROTO_INCIDENT);
    assert_int_equal(r.u.incident.action, PROTO_ACT_ESCALATE);
    assert_int_equal(r.u.incident.level, PROTO_LEVEL_PROTOCOL);
    assert_memory_equal(r.u.incident.incident.p, "inc-2026-007", 12);
    assert_memory_equal(r.u.incident.note.p, "verified by the unit", 20);
    free(buf);
    d.u.incident.action = 5; /* no such action */
    assert_int_equal(proto_sign(&d, sk, &buf, &len), GIF_E_INVALID);
    d.u.incident.action = PROTO_ACT_CONCLUDE;
    d.u.incident.level = 0;
    assert_int_equal(proto_sign(&d, sk, &buf, &len), GIF_E_INVALID);
    d.u.incident.level = PROTO_LEVEL_SITUATIONAL;
    d.u.incident.incident = S("");
    assert_int_equal(proto_sign(&d, sk, &buf, &len), GIF_E_INVALID);

    base(&d, PROTO_GRANT, pk);
    d.u.grant.org = S("Platform B");
    d.u.grant.right = PROTO_RIGHT_INCIDENTS;
    d.u.grant.granted = true;
    buf = sign_ok(&d, sk, &len);
    assert_int_equal(proto_decode(&r, buf, len), 0);
    assert_int_equal(r.u.grant.right, PROTO_RIGHT_INCIDENTS);
    assert_true(r.u.grant.granted);
    assert_memory_equal(r.u.grant.org.p, "Platform B", 10);
    free(buf);
    d.u.grant.right = 2;
    assert_int_equal(proto_sign(&d, sk, &buf, &len), GIF_E_INVALID);

    /* A source makes the signal's body ten fields long; without one it stays at nine, so
     * records signed before the field existed decode and keep their ids. */
    make_signal(&d, pk);
    uint8_t *plain = sign_ok(&d, sk, &len);
    size_t plen = len;
    assert_int_equal(proto_decode(&r, plain, plen), 0);
    assert_int_equal(r.u.signal.source.n, 0);
    d.u.signal.source = S("misp:CIRCL/event 1234");
    buf = sign_ok(&d, sk, &len);
    assert_int_equal(len, plen + 1 + 21);
    assert_int_equal(proto_decode(&r, buf, len), 0);
    assert_memory_equal(r.u.signal.source.p, "misp:CIRCL/event 1234", 21);
    free(buf);
    free(plain);
    char longer[PROTO_NAME_MAX + 2];
    memset(longer, 'x', sizeof longer);
    d.u.signal.source = (struct proto_str){longer, PROTO_NAME_MAX + 1};
    assert_int_equal(proto_sign(&d, sk, &buf, &len), GIF_E_TOOBIG);

    /* A ten-field body with an empty source is not canonical (the nine-field form is). */
    uint8_t body[64] = {0x9a, 0x01, 0xc4, 0x10};
    size_t o = 4;
    memcpy(body + o, MD5, 16);
    o += 16;
    uint8_t tail[] = {0x90, 0xa0, 0xa0, 0x00, 0x64, 0x00, 0xc2, 0xa0};
    memcpy(body + o, tail, sizeof tail);
    o += sizeof tail;
    assert_int_equal(decode_signal_body(body, o, pk, sk), GIF_E_NONCANONICAL);
    body[o - 1] = 0xa1; /* "s" */
    body[o++] = 's';
    assert_int_equal(decode_signal_body(body, o, pk, sk), 0);
    body[0] = 0x9b; /* eleven fields */
    body[o++] = 0xc2;
    assert_int_equal(decode_signal_body(body, o, pk, sk), GIF_E_TOOBIG);

    uint8_t v;
    assert_int_equal(proto_kind_parse("incident", &v), 0);
    assert_int_equal(v, PROTO_INCIDENT);
    assert_string_equal(proto_kind_name(PROTO_GRANT), "grant");
    assert_int_equal(proto_action_parse("deescalate", &v), 0);
    assert_int_equal(v, PROTO_ACT_DEESCALATE);
    assert_null(proto_action_name(9));
    assert_string_equal(proto_right_name(PROTO_RIGHT_INCIDENTS), "incidents");
}

static void test_vectors(void **state)
{
    (void)state;
    uint8_t pk[32], sk[64];
    struct proto_record d, r;
    build_vector(&d, pk, sk);
    size_t len;
    uint8_t *buf = sign_ok(&d, sk, &len);
    char *hex = malloc(2 * len + 1);
    gif_hex(hex, buf, len);
    char pkhex[65], idhex[65];
    gif_hex(pkhex, pk, 32);
    assert_int_equal(proto_decode(&r, buf, len), 0);
    gif_hex(idhex, r.id, 32);
    if (getenv("GIF_PRINT_VECTORS")) printf("pk %s\nrecord %s\nid %s\n", pkhex, hex, idhex);
    assert_string_equal(pkhex, VEC_PK);
    /* The payload is deterministic, and so is an Ed25519 signature. */
    assert_string_equal(hex, VEC_SIGNAL);
    assert_string_equal(idhex, VEC_ID);
    /* What a second implementation does: decode the documented hex, verify under the key. */
    uint8_t raw[512], vpk[32];
    size_t rawlen = strlen(VEC_SIGNAL) / 2;
    assert_int_equal(gif_unhex(raw, rawlen, VEC_SIGNAL, 2 * rawlen), 0);
    assert_int_equal(gif_unhex(vpk, 32, VEC_PK, 64), 0);
    assert_int_equal(proto_decode(&r, raw, rawlen), 0);
    assert_memory_equal(r.origin, vpk, 32);
    assert_int_equal(proto_verify(&r), 0);
    raw[rawlen - 5] ^= 0x10;
    assert_int_equal(proto_decode(&r, raw, rawlen), 0);
    assert_int_equal(proto_verify(&r), GIF_E_BADSIG);
    free(hex);
    free(buf);
}

/* With GIF_WRITE_CORPUS=DIR, writes one valid record of each kind there: the fuzz seeds. */
static void write_corpus(void)
{
    const char *dir = getenv("GIF_WRITE_CORPUS");
    if (!dir) return;
    uint8_t pk[32], sk[64];
    seed_key(3, pk, sk);
    struct proto_record d;
    for (uint8_t kind = PROTO_SIGNAL; kind <= PROTO_REVOCATION; kind++) {
        make_signal(&d, pk);
        d.kind = kind;
        if (kind == PROTO_ALERT) {
            memset(&d.u, 0, sizeof d.u);
            d.u.alert.incident = S("inc-1");
            d.u.alert.level = 2;
            d.u.alert.nsignals = 1;
            d.u.alert.signals[0] = (struct proto_sigref){PROTO_ST_MD5, {MD5, 16}};
        } else if (kind == PROTO_RETRACTION || kind == PROTO_FEEDBACK || kind == PROTO_REVOCATION) {
            memset(&d.u, 0, sizeof d.u);
            memset(d.u.feedback.target, 5, 32);
            d.u.feedback.verdict = 1;
        } else if (kind == PROTO_MEMBERSHIP) {
            memset(&d.u, 0, sizeof d.u);
            memcpy(d.u.membership.key, pk, 32);
            d.u.membership.org = S("Org");
            d.u.membership.role = 1;
            d.u.membership.naddrs = 1;
            d.u.membership.addrs[0] = S("127.0.0.1:7481");
        }
        uint8_t *buf;
        size_t len;
        if (proto_sign(&d, sk, &buf, &len) != 0) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/valid_%s", dir, proto_kind_name(kind));
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(buf, 1, len, f);
            fclose(f);
        }
        free(buf);
    }
}

static void test_names(void **state)
{
    (void)state;
    uint8_t v;
    assert_int_equal(proto_stype_parse("pdq", &v), 0);
    assert_int_equal(v, PROTO_ST_PDQ);
    assert_string_equal(proto_stype_name(PROTO_ST_URL), "url");
    assert_int_equal(proto_stype_parse("PDQ", &v), GIF_E_INVALID);
    assert_null(proto_kind_name(0));
    assert_null(proto_kind_name(99));
    assert_int_equal(proto_role_parse("observer", &v), 0);
    assert_int_equal(v, PROTO_ROLE_OBSERVER);
    assert_int_equal(proto_fb_parse("false_positive", &v), 0);
    assert_int_equal(proto_level_parse("content_incident_protocol", &v), 0);
    assert_int_equal(v, 3);
    assert_true(proto_label_known("glorification", 13));
    assert_false(proto_label_known("glorificatio", 12));
    assert_int_equal(proto_stype_len(PROTO_ST_MD5), 16);
    assert_int_equal(proto_stype_len(PROTO_ST_VPDQ), 0);
}

static void test_vpdq_value(void **state)
{
    (void)state;
    uint8_t pk[32], sk[64];
    proto_keygen(pk, sk);
    uint8_t frames[3 * PROTO_VPDQ_FRAME_LEN];
    memset(frames, 0xab, sizeof frames);
    for (int i = 0; i < 3; i++)
        frames[i * PROTO_VPDQ_FRAME_LEN + 32] = 80;
    struct proto_record d, r;
    make_signal(&d, pk);
    d.u.signal.stype = PROTO_ST_VPDQ;
    d.u.signal.value = (struct proto_bytes){frames, sizeof frames};
    size_t len;
    uint8_t *buf = sign_ok(&d, sk, &len);
    assert_int_equal(proto_decode(&r, buf, len), 0);
    assert_int_equal(r.u.signal.value.n, sizeof frames);
    free(buf);
    /* A frame with quality 101 is refused by the signer. */
    frames[32] = 101;
    uint8_t *out;
    assert_int_equal(proto_sign(&d, sk, &out, &len), GIF_E_INVALID);
    /* A length that is not a whole number of frames. */
    frames[32] = 80;
    d.u.signal.value.n = sizeof frames - 1;
    assert_int_equal(proto_sign(&d, sk, &out, &len), GIF_E_INVALID);
}

static void test_hex(void **state)
{
    (void)state;
    uint8_t b[4];
    assert_int_equal(gif_unhex(b, 4, "DEADbeef", 8), 0);
    assert_int_equal(b[0], 0xde);
    assert_int_equal(gif_unhex(b, 4, "deadbee", 7), GIF_E_INVALID);
    assert_int_equal(gif_unhex(b, 4, "deadbeeg", 8), GIF_E_INVALID);
    char h[9];
    gif_hex(h, b, 4);
    assert_string_equal(h, "deadbeef");
    assert_string_equal(gif_errname(GIF_E_BADSIG), "bad_signature");
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    write_corpus();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_signal),
        cmocka_unit_test(test_roundtrip_all_kinds),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_signal_body_rules),
        cmocka_unit_test(test_incident_grant_source),
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_vpdq_value),
        cmocka_unit_test(test_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
