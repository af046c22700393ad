/*
 * Records: canonical msgpack encoding (msgpack-c's packer, which always picks the shortest
 * form), a strict decoder of our own, and Ed25519 signatures (libsodium).
 *
 * The decoder uses the strict reader in protocol/mp.c (shared with the peer messages): a
 * cursor over the caller's bytes that allocates nothing, checks every header against the bytes
 * that remain and the field's cap before using it, and rejects any encoding but the shortest
 * one, so "canonical" is enforced by construction. Nesting is fixed by the layout (at most
 * four levels), so there is no recursion and no depth to cap at run time.
 */
#include "protocol/record.h"

#include <errno.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/mp.h"
#include "util/gif.h"

#define TRY MP_TRY

/* ---- Field validation shared by decoder and encoder. */

bool proto_is_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

static bool label_syntax_ok(const char *s, size_t n)
{
    if (n == 0 || n > PROTO_LABEL_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return true;
}

static int check_value(uint8_t stype, const struct proto_bytes *v)
{
    size_t want = proto_stype_len(stype);
    if (want) return v->n == want ? 0 : GIF_E_INVALID;
    if (stype != PROTO_ST_VPDQ) return GIF_E_INVALID;
    if (v->n == 0 || v->n % PROTO_VPDQ_FRAME_LEN) return GIF_E_INVALID;
    if (v->n / PROTO_VPDQ_FRAME_LEN > PROTO_VPDQ_FRAMES_MAX) return GIF_E_TOOBIG;
    for (size_t off = 0; off < v->n; off += PROTO_VPDQ_FRAME_LEN)
        if (v->p[off + 32] > 100) return GIF_E_INVALID;
    return 0;
}

/* ---- Decoder. */

static int dec_signal(struct mp_rd *r, struct proto_signal *s)
{
    size_t n;
    uint64_t x;
    /* Nine fields, or ten when the signal names its source: an empty source is never
     * written, so each signal still has one encoding. */
    TRY(mp_array(r, &n, -1, 10));
    if (n != 9 && n != 10) return GIF_E_MALFORMED;
    TRY(mp_u8(r, &s->stype, PROTO_ST_URL));
    if (s->stype == 0) return GIF_E_INVALID;
    TRY(mp_bin(r, &s->value, PROTO_VPDQ_FRAMES_MAX * PROTO_VPDQ_FRAME_LEN));
    TRY(check_value(s->stype, &s->value));
    TRY(mp_array(r, &s->nlabels, -1, PROTO_LABELS_MAX));
    for (size_t i = 0; i < s->nlabels; i++) {
        TRY(mp_str(r, &s->labels[i], PROTO_LABEL_MAX));
        if (!label_syntax_ok(s->labels[i].p, s->labels[i].n)) return GIF_E_INVALID;
        /* Labels are a set, in strictly increasing byte order: one encoding per value. */
        if (i > 0) {
            const struct proto_str *a = &s->labels[i - 1], *b = &s->labels[i];
            size_t m = a->n < b->n ? a->n : b->n;
            int c = memcmp(a->p, b->p, m);
            if (c > 0 || (c == 0 && a->n >= b->n)) return GIF_E_NONCANONICAL;
        }
    }
    TRY(mp_str(r, &s->entity, PROTO_NAME_MAX));
    TRY(mp_str(r, &s->incident, PROTO_INCIDENT_MAX));
    TRY(mp_u8(r, &s->content, PROTO_CT_FILE));
    TRY(mp_u8(r, &s->confidence, 100));
    TRY(mp_uint(r, &x, UINT64_MAX));
    s->expires_ms = x;
    TRY(mp_bool(r, &s->verified));
    if (n == 10) {
        TRY(mp_str(r, &s->source, PROTO_NAME_MAX));
        if (s->source.n == 0) return GIF_E_NONCANONICAL;
    }
    return 0;
}

static int dec_alert(struct mp_rd *r, struct proto_alert *a)
{
    size_t n;
    uint64_t x;
    TRY(mp_array(r, &n, 7, 0));
    TRY(mp_str(r, &a->incident, PROTO_INCIDENT_MAX));
    if (a->incident.n == 0) return GIF_E_INVALID;
    TRY(mp_u8(r, &a->level, PROTO_LEVEL_PROTOCOL));
    if (a->level == 0) return GIF_E_INVALID;
    TRY(mp_str(r, &a->detector, PROTO_NAME_MAX));
    TRY(mp_str(r, &a->detector_version, PROTO_NAME_MAX));
    TRY(mp_uint(r, &x, 10000));
    a->score = (uint16_t)x;
    TRY(mp_array(r, &a->nsignals, -1, PROTO_ALERT_SIGNALS_MAX));
    for (size_t i = 0; i < a->nsignals; i++) {
        struct proto_sigref *sr = &a->signals[i];
        TRY(mp_array(r, &n, 2, 0));
        TRY(mp_u8(r, &sr->stype, PROTO_ST_URL));
        if (sr->stype == 0) return GIF_E_INVALID;
        TRY(mp_bin(r, &sr->value, PROTO_VPDQ_FRAMES_MAX * PROTO_VPDQ_FRAME_LEN));
        TRY(check_value(sr->stype, &sr->value));
    }
    TRY(mp_str(r, &a->note, PROTO_TEXT_MAX));
    return 0;
}

static int dec_body(struct mp_rd *r, struct proto_record *rec)
{
    size_t n;
    uint64_t x;
    switch (rec->kind) {
    case PROTO_SIGNAL:
        return dec_signal(r, &rec->u.signal);
    case PROTO_ALERT:
        return dec_alert(r, &rec->u.alert);
    case PROTO_RETRACTION:
        TRY(mp_array(r, &n, 2, 0));
        TRY(mp_bin_fixed(r, rec->u.retraction.target, PROTO_ID_LEN));
        return mp_str(r, &rec->u.retraction.reason, PROTO_TEXT_MAX);
    case PROTO_FEEDBACK:
        TRY(mp_array(r, &n, 3, 0));
        TRY(mp_bin_fixed(r, rec->u.feedback.target, PROTO_ID_LEN));
        TRY(mp_u8(r, &rec->u.feedback.verdict, PROTO_FB_FALSE_POSITIVE));
        if (rec->u.feedback.verdict == 0) return GIF_E_INVALID;
        return mp_str(r, &rec->u.feedback.note, PROTO_TEXT_MAX);
    case PROTO_MEMBERSHIP: {
        struct proto_membership *m = &rec->u.membership;
        TRY(mp_array(r, &n, 6, 0));
        TRY(mp_bin_fixed(r, m->key, PROTO_KEY_LEN));
        TRY(mp_str(r, &m->org, PROTO_NAME_MAX));
        if (m->org.n == 0) return GIF_E_INVALID;
        TRY(mp_u8(r, &m->role, PROTO_ROLE_OBSERVER));
        if (m->role == 0) return GIF_E_INVALID;
        TRY(mp_uint(r, &x, UINT64_MAX));
        m->not_before_ms = x;
        TRY(mp_uint(r, &x, UINT64_MAX));
        m->not_after_ms = x;
        if (m->not_after_ms && m->not_after_ms < m->not_before_ms) return GIF_E_INVALID;
        TRY(mp_array(r, &m->naddrs, -1, PROTO_ADDRS_MAX));
        for (size_t i = 0; i < m->naddrs; i++) {
            TRY(mp_str(r, &m->addrs[i], PROTO_ADDR_MAX));
            if (m->addrs[i].n == 0) return GIF_E_INVALID;
        }
        return 0;
    }
    case PROTO_REVOCATION:
        TRY(mp_array(r, &n, 2, 0));
        TRY(mp_bin_fixed(r, rec->u.revocation.key, PROTO_KEY_LEN));
        return mp_str(r, &rec->u.revocation.reason, PROTO_TEXT_MAX);
    case PROTO_INCIDENT: {
        struct proto_incident *in = &rec->u.incident;
        TRY(mp_array(r, &n, 4, 0));
        TRY(mp_str(r, &in->incident, PROTO_INCIDENT_MAX));
        if (in->incident.n == 0) return GIF_E_INVALID;
        TRY(mp_u8(r, &in->action, PROTO_ACT_REOPEN));
        if (in->action == 0) return GIF_E_INVALID;
        TRY(mp_u8(r, &in->level, PROTO_LEVEL_PROTOCOL));
        if (in->level == 0) return GIF_E_INVALID;
        return mp_str(r, &in->note, PROTO_TEXT_MAX);
    }
    case PROTO_GRANT: {
        struct proto_grant *g = &rec->u.grant;
        TRY(mp_array(r, &n, 3, 0));
        TRY(mp_str(r, &g->org, PROTO_NAME_MAX));
        if (g->org.n == 0) return GIF_E_INVALID;
        TRY(mp_u8(r, &g->right, PROTO_RIGHT_INCIDENTS));
        if (g->right == 0) return GIF_E_INVALID;
        return mp_bool(r, &g->granted);
    }
    default:
        return GIF_E_INVALID;
    }
}

static int decode(struct proto_record *out, const uint8_t *buf, size_t len)
{
    if (len > PROTO_RECORD_MAX) return GIF_E_TOOBIG;
    struct mp_rd r = {buf, buf + len};
    size_t n;
    TRY(mp_array(&r, &n, 2, 0));
    TRY(mp_bin(&r, &out->payload, PROTO_RECORD_MAX));
    struct proto_bytes sig;
    TRY(mp_bin(&r, &sig, PROTO_SIG_LEN));
    if (sig.n != PROTO_SIG_LEN) return GIF_E_MALFORMED;
    memcpy(out->sig, sig.p, PROTO_SIG_LEN);
    if (r.p != r.end) return GIF_E_MALFORMED;

    struct mp_rd p = {out->payload.p, out->payload.p + out->payload.n};
    uint64_t x;
    TRY(mp_array(&p, &n, 7, 0));
    /* The version comes first so that a newer record is reported as such, not as garbage. */
    TRY(mp_uint(&p, &x, UINT32_MAX));
    if (x != PROTO_VERSION) return GIF_E_VERSION;
    out->version = (uint32_t)x;
    TRY(mp_u8(&p, &out->kind, PROTO_KIND_MAX));
    if (out->kind == 0) return GIF_E_INVALID;
    TRY(mp_bin_fixed(&p, out->origin, PROTO_KEY_LEN));
    TRY(mp_uint(&p, &out->seq, UINT64_MAX));
    if (out->seq == 0) return GIF_E_INVALID;
    TRY(mp_bin_fixed(&p, out->prev, PROTO_ID_LEN));
    if ((out->seq == 1) != proto_is_zero(out->prev, PROTO_ID_LEN)) return GIF_E_INVALID;
    TRY(mp_uint(&p, &out->time_ms, UINT64_MAX));
    TRY(dec_body(&p, out));
    if (p.p != p.end) return GIF_E_MALFORMED;
    return 0;
}

/* decode, zeroing *out on failure; the id is id when given, else hashed from buf. */
static int decode_as(struct proto_record *out, const uint8_t *buf, size_t len, const uint8_t *id)
{
    memset(out, 0, sizeof *out);
    int rc = decode(out, buf, len);
    if (rc)
        memset(out, 0, sizeof *out);
    else if (id)
        memcpy(out->id, id, PROTO_ID_LEN);
    else
        proto_record_id(out->id, buf, len);
    return rc;
}

int proto_decode(struct proto_record *out, const uint8_t *buf, size_t len)
{
    return decode_as(out, buf, len, NULL);
}

int proto_decode_known(struct proto_record *out, const uint8_t *buf, size_t len,
                       const uint8_t id[static PROTO_ID_LEN])
{
    return decode_as(out, buf, len, id);
}

int proto_verify(const struct proto_record *r)
{
    if (crypto_sign_verify_detached(r->sig, r->payload.p, r->payload.n, r->origin) != 0)
        return GIF_E_BADSIG;
    return 0;
}

void proto_record_id(uint8_t id[static PROTO_ID_LEN], const uint8_t *buf, size_t len)
{
    crypto_hash_sha256(id, buf, len);
}

void proto_keygen(uint8_t pk[static PROTO_KEY_LEN], uint8_t sk[static PROTO_SK_LEN])
{
    crypto_sign_keypair(pk, sk);
}

void proto_sk_to_pk(uint8_t pk[static PROTO_KEY_LEN], const uint8_t sk[static PROTO_SK_LEN])
{
    /* Derive from the seed rather than trusting the stored public half. */
    uint8_t seed[32], sk2[PROTO_SK_LEN];
    crypto_sign_ed25519_sk_to_seed(seed, sk);
    crypto_sign_seed_keypair(pk, sk2, seed);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk2, sizeof sk2);
}

/* ---- Encoder. */

static void pk_str(msgpack_packer *pk, const struct proto_str *s)
{
    msgpack_pack_str(pk, s->n);
    msgpack_pack_str_body(pk, s->p, s->n);
}

static void pk_bin(msgpack_packer *pk, const void *p, size_t n)
{
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, p, n);
}

static int cmp_label(const void *a, const void *b)
{
    const struct proto_str *x = a, *y = b;
    size_t m = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->p, y->p, m);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

static int enc_body(msgpack_packer *pk, const struct proto_record *d)
{
    switch (d->kind) {
    case PROTO_SIGNAL: {
        const struct proto_signal *s = &d->u.signal;
        if (s->nlabels > PROTO_LABELS_MAX) return GIF_E_TOOBIG;
        /* The canonical form sorts labels; sort a copy so the caller's order is untouched. */
        struct proto_str labels[PROTO_LABELS_MAX];
        memcpy(labels, s->labels, s->nlabels * sizeof labels[0]);
        qsort(labels, s->nlabels, sizeof labels[0], cmp_label);
        msgpack_pack_array(pk, s->source.n ? 10 : 9);
        msgpack_pack_uint8(pk, s->stype);
        pk_bin(pk, s->value.p, s->value.n);
        msgpack_pack_array(pk, s->nlabels);
        for (size_t i = 0; i < s->nlabels; i++)
            pk_str(pk, &labels[i]);
        pk_str(pk, &s->entity);
        pk_str(pk, &s->incident);
        msgpack_pack_uint8(pk, s->content);
        msgpack_pack_uint8(pk, s->confidence);
        msgpack_pack_uint64(pk, s->expires_ms);
        if (s->verified)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
        if (s->source.n) pk_str(pk, &s->source);
        return 0;
    }
    case PROTO_ALERT: {
        const struct proto_alert *a = &d->u.alert;
        if (a->nsignals > PROTO_ALERT_SIGNALS_MAX) return GIF_E_TOOBIG;
        msgpack_pack_array(pk, 7);
        pk_str(pk, &a->incident);
        msgpack_pack_uint8(pk, a->level);
        pk_str(pk, &a->detector);
        pk_str(pk, &a->detector_version);
        msgpack_pack_uint16(pk, a->score);
        msgpack_pack_array(pk, a->nsignals);
        for (size_t i = 0; i < a->nsignals; i++) {
            msgpack_pack_array(pk, 2);
            msgpack_pack_uint8(pk, a->signals[i].stype);
            pk_bin(pk, a->signals[i].value.p, a->signals[i].value.n);
        }
        pk_str(pk, &a->note);
        return 0;
    }
    case PROTO_RETRACTION:
        msgpack_pack_array(pk, 2);
        pk_bin(pk, d->u.retraction.target, PROTO_ID_LEN);
        pk_str(pk, &d->u.retraction.reason);
        return 0;
    case PROTO_FEEDBACK:
        msgpack_pack_array(pk, 3);
        pk_bin(pk, d->u.feedback.target, PROTO_ID_LEN);
        msgpack_pack_uint8(pk, d->u.feedback.verdict);
        pk_str(pk, &d->u.feedback.note);
        return 0;
    case PROTO_MEMBERSHIP: {
        const struct proto_membership *m = &d->u.membership;
        if (m->naddrs > PROTO_ADDRS_MAX) return GIF_E_TOOBIG;
        msgpack_pack_array(pk, 6);
        pk_bin(pk, m->key, PROTO_KEY_LEN);
        pk_str(pk, &m->org);
        msgpack_pack_uint8(pk, m->role);
        msgpack_pack_uint64(pk, m->not_before_ms);
        msgpack_pack_uint64(pk, m->not_after_ms);
        msgpack_pack_array(pk, m->naddrs);
        for (size_t i = 0; i < m->naddrs; i++)
            pk_str(pk, &m->addrs[i]);
        return 0;
    }
    case PROTO_REVOCATION:
        msgpack_pack_array(pk, 2);
        pk_bin(pk, d->u.revocation.key, PROTO_KEY_LEN);
        pk_str(pk, &d->u.revocation.reason);
        return 0;
    case PROTO_INCIDENT:
        msgpack_pack_array(pk, 4);
        pk_str(pk, &d->u.incident.incident);
        msgpack_pack_uint8(pk, d->u.incident.action);
        msgpack_pack_uint8(pk, d->u.incident.level);
        pk_str(pk, &d->u.incident.note);
        return 0;
    case PROTO_GRANT:
        msgpack_pack_array(pk, 3);
        pk_str(pk, &d->u.grant.org);
        msgpack_pack_uint8(pk, d->u.grant.right);
        if (d->u.grant.granted)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
        return 0;
    default:
        return GIF_E_INVALID;
    }
}

int proto_sign(const struct proto_record *draft, const uint8_t sk[static PROTO_SK_LEN],
               uint8_t **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    msgpack_sbuffer payload, rec;
    msgpack_sbuffer_init(&payload);
    msgpack_sbuffer_init(&rec);
    msgpack_packer pk;
    int rc;

    msgpack_packer_init(&pk, &payload, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 7);
    msgpack_pack_uint32(&pk, draft->version ? draft->version : PROTO_VERSION);
    msgpack_pack_uint8(&pk, draft->kind);
    pk_bin(&pk, draft->origin, PROTO_KEY_LEN);
    msgpack_pack_uint64(&pk, draft->seq);
    pk_bin(&pk, draft->prev, PROTO_ID_LEN);
    msgpack_pack_uint64(&pk, draft->time_ms);
    if ((rc = enc_body(&pk, draft)) != 0) goto fail;
    if (payload.size > PROTO_RECORD_MAX - 80) {
        rc = GIF_E_TOOBIG;
        goto fail;
    }

    uint8_t sig[PROTO_SIG_LEN];
    crypto_sign_detached(sig, NULL, (const uint8_t *)payload.data, payload.size, sk);
    msgpack_packer_init(&pk, &rec, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    pk_bin(&pk, payload.data, payload.size);
    pk_bin(&pk, sig, sizeof sig);
    if (!rec.data) {
        rc = -ENOMEM;
        goto fail;
    }

    /* Sign only what we would accept: decode our own output with the strict decoder. */
    struct proto_record check;
    rc = proto_decode(&check, (const uint8_t *)rec.data, rec.size);
    if (rc) goto fail;
    if (memcmp(check.origin, sk + 32, PROTO_KEY_LEN) != 0) {
        rc = GIF_E_INVALID;
        goto fail;
    }
    msgpack_sbuffer_destroy(&payload);
    /* sbuffer memory is malloc'd (the caller frees it) in steps of 8 KiB: give back the rest,
     * which a batch of drafts (up to 1,000 a request) would otherwise hold until written. */
    uint8_t *fit = realloc(rec.data, rec.size);
    *out = fit ? fit : (uint8_t *)rec.data;
    *outlen = rec.size;
    return 0;

fail:
    msgpack_sbuffer_destroy(&rec);
    msgpack_sbuffer_destroy(&payload);
    return rc;
}
