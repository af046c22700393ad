/*
 * Peer frames and messages (see peer.h and docs/protocol.md, "Peer protocol").
 *
 * Decoding reuses the strict reader of protocol/mp.c, so peer messages and records refuse
 * exactly the same encodings. Encoding reuses msgpack-c's packer (shortest forms always),
 * writing into a struct peer_buf through a callback that enforces the buffer's limit: no
 * input can make the buffer grow past what its owner allowed.
 */
#include "protocol/peer.h"

#include <errno.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/mp.h"
#include "util/gif.h"

#define TRY MP_TRY

/* A list's array header is reserved at its widest (array16: every list cap fits in 16 bits)
 * while the count is unknown, and shrunk to a fixarray at the end when the count allows. */
#define LIST_HDR_MAX 3

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- Frames. */

int peer_frame_parse(const uint8_t *buf, size_t len, struct peer_frame *out, size_t *consumed)
{
    memset(out, 0, sizeof *out);
    *consumed = 0;
    /* Each header field is judged as soon as it is in, so a foreign or hostile stream is
     * refused before its payload is buffered. */
    if (len < 1) return -EAGAIN;
    if (buf[0] != PEER_WIRE_VERSION) return GIF_E_VERSION;
    if (len < 2) return -EAGAIN;
    if (buf[1] == 0 || buf[1] > PEER_TYPE_MAX) return GIF_E_MALFORMED;
    if (len < PEER_HEADER_LEN) return -EAGAIN;
    uint32_t n = get_be32(buf + 2);
    if (n > PEER_FRAME_MAX) return GIF_E_TOOBIG;
    if (len - PEER_HEADER_LEN < n) return -EAGAIN;
    out->version = buf[0];
    out->type = buf[1];
    out->payload = buf + PEER_HEADER_LEN;
    out->len = n;
    *consumed = PEER_HEADER_LEN + (size_t)n;
    return 0;
}

/* ---- Decoding. */

static int rd_entry(struct mp_rd *r, struct peer_entry *e)
{
    size_t n;
    TRY(mp_array(r, &n, 3, 0));
    TRY(mp_bin_fixed(r, e->origin, PROTO_KEY_LEN));
    TRY(mp_uint(r, &e->seq, UINT64_MAX));
    if (e->seq == 0) return GIF_E_INVALID;
    return mp_bin_fixed(r, e->id, PROTO_ID_LEN);
}

static int rd_range(struct mp_rd *r, struct peer_range *g)
{
    size_t n;
    TRY(mp_array(r, &n, 3, 0));
    TRY(mp_bin_fixed(r, g->origin, PROTO_KEY_LEN));
    TRY(mp_uint(r, &g->from_seq, UINT64_MAX));
    TRY(mp_uint(r, &g->to_seq, UINT64_MAX));
    if (g->from_seq == 0 || g->to_seq < g->from_seq) return GIF_E_INVALID;
    return 0;
}

static int rd_record(struct mp_rd *r, struct proto_bytes *rec)
{
    TRY(mp_bin(r, rec, PROTO_RECORD_MAX));
    return rec->n ? 0 : GIF_E_INVALID;
}

/* Checks every element of a list now, so that walking it later cannot fail. */
static int dec_list(struct mp_rd *r, uint8_t type, struct peer_list *l)
{
    static const size_t caps[] = {
        [PEER_VV] = PEER_VV_MAX,           [PEER_WANT] = PEER_WANT_MAX,
        [PEER_RECORDS] = PEER_RECORDS_MAX, [PEER_IHAVE] = PEER_IHAVE_MAX,
        [PEER_GRAFT] = PEER_IHAVE_MAX,     [PEER_PRUNE] = PEER_IHAVE_MAX,
    };
    TRY(mp_array(r, &l->count, -1, caps[type]));
    l->type = type;
    l->p = r->p;
    struct peer_entry e, prev = {0};
    struct peer_range g;
    struct proto_bytes rec;
    for (size_t i = 0; i < l->count; i++) {
        switch (type) {
        case PEER_VV:
            TRY(rd_entry(r, &e));
            /* One encoding per vector: origins strictly increasing, so no repeats either. */
            if (i > 0 && memcmp(prev.origin, e.origin, PROTO_KEY_LEN) >= 0)
                return GIF_E_NONCANONICAL;
            prev = e;
            break;
        case PEER_IHAVE:
        case PEER_GRAFT:
        case PEER_PRUNE:
            TRY(rd_entry(r, &e));
            break;
        case PEER_WANT:
            TRY(rd_range(r, &g));
            break;
        case PEER_RECORDS:
            TRY(rd_record(r, &rec));
            break;
        default:
            return GIF_E_MALFORMED;
        }
    }
    l->end = r->p;
    l->next = 0;
    return 0;
}

static int dec_payload(uint8_t type, struct mp_rd *r, struct peer_msg *m)
{
    size_t n;
    m->type = type;
    switch (type) {
    case PEER_HELLO: {
        struct peer_hello *h = &m->u.hello;
        TRY(mp_array(r, &n, 5, 0));
        TRY(mp_bin_fixed(r, h->node_key, PROTO_KEY_LEN));
        TRY(mp_str(r, &h->software, PEER_SOFTWARE_MAX));
        TRY(mp_str(r, &h->listen_addr, PEER_ADDR_MAX));
        TRY(mp_uint(r, &h->features, UINT64_MAX));
        return mp_uint(r, &h->time_ms, UINT64_MAX);
    }
    case PEER_VV:
    case PEER_WANT:
    case PEER_RECORDS:
    case PEER_IHAVE:
    case PEER_GRAFT:
    case PEER_PRUNE:
        return dec_list(r, type, &m->u.list);
    case PEER_PING:
    case PEER_PONG:
        TRY(mp_array(r, &n, 2, 0));
        TRY(mp_uint(r, &m->u.ping.nonce, UINT64_MAX));
        return mp_uint(r, &m->u.ping.time_ms, UINT64_MAX);
    case PEER_BYE:
        TRY(mp_array(r, &n, 2, 0));
        TRY(mp_uint(r, &m->u.bye.code, UINT64_MAX));
        return mp_str(r, &m->u.bye.reason, PEER_REASON_MAX);
    default:
        return GIF_E_MALFORMED;
    }
}

int peer_payload_decode(uint8_t type, const uint8_t *p, size_t len, struct peer_msg *out)
{
    memset(out, 0, sizeof *out);
    if (len > PEER_FRAME_MAX) return GIF_E_TOOBIG;
    struct mp_rd r = {p, p + len};
    int rc = dec_payload(type, &r, out);
    if (rc == 0 && r.p != r.end) rc = GIF_E_MALFORMED;
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}

int peer_msg_decode(const struct peer_frame *f, struct peer_msg *out)
{
    if (f->version != PEER_WIRE_VERSION) {
        memset(out, 0, sizeof *out);
        return GIF_E_VERSION;
    }
    return peer_payload_decode(f->type, f->payload, f->len, out);
}

static bool next_ok(struct peer_list *l, bool kind_ok)
{
    return kind_ok && l->next < l->count && l->p < l->end;
}

bool peer_next_entry(struct peer_list *l, struct peer_entry *e)
{
    bool kind = l->type == PEER_VV || l->type == PEER_IHAVE || l->type == PEER_GRAFT ||
                l->type == PEER_PRUNE;
    if (!next_ok(l, kind)) return false;
    struct mp_rd r = {l->p, l->end};
    if (rd_entry(&r, e) != 0) return false;
    l->p = r.p;
    l->next++;
    return true;
}

bool peer_next_range(struct peer_list *l, struct peer_range *g)
{
    if (!next_ok(l, l->type == PEER_WANT)) return false;
    struct mp_rd r = {l->p, l->end};
    if (rd_range(&r, g) != 0) return false;
    l->p = r.p;
    l->next++;
    return true;
}

bool peer_next_record(struct peer_list *l, struct proto_bytes *rec)
{
    if (!next_ok(l, l->type == PEER_RECORDS)) return false;
    struct mp_rd r = {l->p, l->end};
    if (rd_record(&r, rec) != 0) return false;
    l->p = r.p;
    l->next++;
    return true;
}

const char *peer_type_name(uint8_t type)
{
    static const char *const names[] = {
        [PEER_HELLO] = "hello",     [PEER_VV] = "vv",       [PEER_WANT] = "want",
        [PEER_RECORDS] = "records", [PEER_IHAVE] = "ihave", [PEER_GRAFT] = "graft",
        [PEER_PRUNE] = "prune",     [PEER_PING] = "ping",   [PEER_PONG] = "pong",
        [PEER_BYE] = "bye",
    };
    return type < GIF_ARRAY_LEN(names) ? names[type] : NULL;
}

const char *peer_bye_name(uint64_t code)
{
    switch (code) {
    case PEER_BYE_GOING_AWAY:
        return "going_away";
    case PEER_BYE_PROTOCOL:
        return "protocol_error";
    case PEER_BYE_NOT_MEMBER:
        return "not_member";
    case PEER_BYE_REVOKED:
        return "revoked";
    case PEER_BYE_OVERLOADED:
        return "overloaded";
    default:
        return NULL;
    }
}

/* ---- Output buffer. */

void peer_buf_init(struct peer_buf *b, size_t limit)
{
    memset(b, 0, sizeof *b);
    b->limit = limit;
}

void peer_buf_free(struct peer_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void peer_buf_consume(struct peer_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* Makes room for n more bytes. Returns 0, -ENOBUFS or -ENOMEM. */
static int buf_reserve(struct peer_buf *b, size_t n)
{
    if (n > b->limit || b->len > b->limit - n) return -ENOBUFS;
    size_t need = b->len + n;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->limit) cap = b->limit;
    uint8_t *p = realloc(b->data, cap);
    if (!p) return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

/* msgpack-c's packer writes through this; the first failure sticks in err. */
struct wr {
    struct peer_buf *b;
    int err;
};

static int wr_write(void *data, const char *p, size_t n)
{
    struct wr *w = data;
    if (w->err) return -1;
    int rc = buf_reserve(w->b, n);
    if (rc) {
        w->err = rc;
        return -1;
    }
    memcpy(w->b->data + w->b->len, p, n);
    w->b->len += n;
    return 0;
}

static void pk_bin(msgpack_packer *pk, const void *p, size_t n)
{
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, p, n);
}

static void pk_str(msgpack_packer *pk, const struct proto_str *s)
{
    msgpack_pack_str(pk, s->n);
    msgpack_pack_str_body(pk, s->p, s->n);
}

/* Refuses a string the decoder would refuse. */
static int check_str(const struct proto_str *s, size_t max)
{
    if (s->n > max) return GIF_E_TOOBIG;
    if (s->n && !s->p) return GIF_E_INVALID;
    return mp_utf8_valid((const uint8_t *)s->p, s->n) ? 0 : GIF_E_INVALID;
}

/* Size of the shortest msgpack form of an unsigned integer. */
static size_t uint_size(uint64_t v)
{
    return v < 0x80 ? 1 : v <= 0xff ? 2 : v <= 0xffff ? 3 : v <= 0xffffffffu ? 5 : 9;
}

static size_t bin_size(size_t n)
{
    return n + (n <= 0xff ? 2 : n <= 0xffff ? 3 : 5);
}

/* Writes the header in front of a payload that starts at start + PEER_HEADER_LEN. */
static void put_header(struct peer_buf *b, size_t start, uint8_t type)
{
    b->data[start] = PEER_WIRE_VERSION;
    b->data[start + 1] = type;
    put_be32(b->data + start + 2, (uint32_t)(b->len - start - PEER_HEADER_LEN));
}

/* ---- Single-value messages. */

static int encode_simple(struct peer_buf *b, uint8_t type, const void *msg)
{
    size_t start = b->len;
    struct wr w = {b, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &w, wr_write);
    static const uint8_t hdr[PEER_HEADER_LEN];
    wr_write(&w, (const char *)hdr, sizeof hdr);
    switch (type) {
    case PEER_HELLO: {
        const struct peer_hello *h = msg;
        msgpack_pack_array(&pk, 5);
        pk_bin(&pk, h->node_key, PROTO_KEY_LEN);
        pk_str(&pk, &h->software);
        pk_str(&pk, &h->listen_addr);
        msgpack_pack_uint64(&pk, h->features);
        msgpack_pack_uint64(&pk, h->time_ms);
        break;
    }
    case PEER_PING:
    case PEER_PONG: {
        const struct peer_ping *p = msg;
        msgpack_pack_array(&pk, 2);
        msgpack_pack_uint64(&pk, p->nonce);
        msgpack_pack_uint64(&pk, p->time_ms);
        break;
    }
    case PEER_BYE: {
        const struct peer_bye *y = msg;
        msgpack_pack_array(&pk, 2);
        msgpack_pack_uint64(&pk, y->code);
        pk_str(&pk, &y->reason);
        break;
    }
    }
    if (w.err) {
        b->len = start;
        return w.err;
    }
    put_header(b, start, type);
    return 0;
}

int peer_encode_hello(struct peer_buf *b, const struct peer_hello *h)
{
    TRY(check_str(&h->software, PEER_SOFTWARE_MAX));
    TRY(check_str(&h->listen_addr, PEER_ADDR_MAX));
    return encode_simple(b, PEER_HELLO, h);
}

int peer_encode_ping(struct peer_buf *b, uint8_t type, const struct peer_ping *p)
{
    if (type != PEER_PING && type != PEER_PONG) return GIF_E_INVALID;
    return encode_simple(b, type, p);
}

int peer_encode_bye(struct peer_buf *b, uint64_t code, const struct proto_str *reason)
{
    struct peer_bye y = {code, reason ? *reason : (struct proto_str){"", 0}};
    TRY(check_str(&y.reason, PEER_REASON_MAX));
    return encode_simple(b, PEER_BYE, &y);
}

/* ---- Lists. */

static size_t list_cap(uint8_t type)
{
    switch (type) {
    case PEER_VV:
        return PEER_VV_MAX;
    case PEER_WANT:
        return PEER_WANT_MAX;
    case PEER_RECORDS:
        return PEER_RECORDS_MAX;
    case PEER_IHAVE:
    case PEER_GRAFT:
    case PEER_PRUNE:
        return PEER_IHAVE_MAX;
    default:
        return 0;
    }
}

int peer_build_begin(struct peer_builder *pb, struct peer_buf *b, uint8_t type)
{
    memset(pb, 0, sizeof *pb);
    if (list_cap(type) == 0) return GIF_E_INVALID;
    TRY(buf_reserve(b, PEER_HEADER_LEN + LIST_HDR_MAX));
    pb->b = b;
    pb->start = b->len;
    pb->type = type;
    pb->open = true;
    b->len += PEER_HEADER_LEN + LIST_HDR_MAX;
    return 0;
}

size_t peer_build_count(const struct peer_builder *pb)
{
    return pb->count;
}

/*
 * Checks that one more element of `size` bytes keeps the frame within its caps. The array
 * header is counted at the size it will have once the element is in.
 */
static int room_for(const struct peer_builder *pb, size_t size)
{
    if (!pb->open) return GIF_E_INVALID;
    if (pb->count + 1 > list_cap(pb->type)) return -ENOSPC;
    size_t items = pb->b->len - pb->start - PEER_HEADER_LEN - LIST_HDR_MAX;
    size_t hdr = pb->count + 1 < 16 ? 1 : 3;
    if (items + size + hdr > PEER_FRAME_MAX) return -ENOSPC;
    return 0;
}

/* Ends an element's packing: keeps it, or removes what was written of it. */
static int element_done(struct peer_builder *pb, const struct wr *w, size_t before)
{
    if (w->err) {
        pb->b->len = before;
        return w->err;
    }
    pb->count++;
    return 0;
}

int peer_build_entry(struct peer_builder *pb, const struct peer_entry *e)
{
    if (pb->type != PEER_VV && pb->type != PEER_IHAVE && pb->type != PEER_GRAFT &&
        pb->type != PEER_PRUNE)
        return GIF_E_INVALID;
    if (e->seq == 0) return GIF_E_INVALID;
    if (pb->type == PEER_VV && pb->count > 0 && memcmp(pb->last, e->origin, PROTO_KEY_LEN) >= 0)
        return GIF_E_INVALID;
    TRY(room_for(pb, 1 + 2 * bin_size(PROTO_KEY_LEN) + uint_size(e->seq)));
    size_t before = pb->b->len;
    struct wr w = {pb->b, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &w, wr_write);
    msgpack_pack_array(&pk, 3);
    pk_bin(&pk, e->origin, PROTO_KEY_LEN);
    msgpack_pack_uint64(&pk, e->seq);
    pk_bin(&pk, e->id, PROTO_ID_LEN);
    TRY(element_done(pb, &w, before));
    memcpy(pb->last, e->origin, PROTO_KEY_LEN);
    return 0;
}

int peer_build_range(struct peer_builder *pb, const struct peer_range *g)
{
    if (pb->type != PEER_WANT) return GIF_E_INVALID;
    if (g->from_seq == 0 || g->to_seq < g->from_seq) return GIF_E_INVALID;
    TRY(room_for(pb, 1 + bin_size(PROTO_KEY_LEN) + uint_size(g->from_seq) + uint_size(g->to_seq)));
    size_t before = pb->b->len;
    struct wr w = {pb->b, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &w, wr_write);
    msgpack_pack_array(&pk, 3);
    pk_bin(&pk, g->origin, PROTO_KEY_LEN);
    msgpack_pack_uint64(&pk, g->from_seq);
    msgpack_pack_uint64(&pk, g->to_seq);
    return element_done(pb, &w, before);
}

int peer_build_record(struct peer_builder *pb, const uint8_t *rec, size_t n)
{
    if (pb->type != PEER_RECORDS) return GIF_E_INVALID;
    if (n == 0 || !rec) return GIF_E_INVALID;
    if (n > PROTO_RECORD_MAX) return GIF_E_TOOBIG;
    TRY(room_for(pb, bin_size(n)));
    size_t before = pb->b->len;
    struct wr w = {pb->b, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &w, wr_write);
    pk_bin(&pk, rec, n);
    return element_done(pb, &w, before);
}

int peer_build_end(struct peer_builder *pb)
{
    if (!pb->open) return GIF_E_INVALID;
    struct peer_buf *b = pb->b;
    uint8_t *a = b->data + pb->start + PEER_HEADER_LEN;
    size_t items = b->len - pb->start - PEER_HEADER_LEN - LIST_HDR_MAX;
    if (pb->count < 16) {
        /* The canonical header is one byte: move the elements down over the spare two. */
        a[0] = (uint8_t)(0x90 | pb->count);
        memmove(a + 1, a + LIST_HDR_MAX, items);
        b->len -= LIST_HDR_MAX - 1;
    } else {
        a[0] = 0xdc;
        a[1] = (uint8_t)(pb->count >> 8);
        a[2] = (uint8_t)pb->count;
    }
    put_header(b, pb->start, pb->type);
    pb->open = false;
    return 0;
}

void peer_build_abort(struct peer_builder *pb)
{
    if (!pb->open) return;
    pb->b->len = pb->start;
    pb->open = false;
}

/* The whole-list encoders: a list that does not fit one frame is the caller's error. */
static int list_finish(struct peer_builder *pb, int rc)
{
    if (rc) {
        peer_build_abort(pb);
        return rc == -ENOSPC ? GIF_E_TOOBIG : rc;
    }
    return peer_build_end(pb);
}

static int encode_entries(struct peer_buf *b, uint8_t type, const struct peer_entry *v, size_t n)
{
    struct peer_builder pb;
    TRY(peer_build_begin(&pb, b, type));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = peer_build_entry(&pb, &v[i]);
    return list_finish(&pb, rc);
}

int peer_encode_vv(struct peer_buf *b, const struct peer_entry *entries, size_t n)
{
    return encode_entries(b, PEER_VV, entries, n);
}

int peer_encode_ihave(struct peer_buf *b, uint8_t type, const struct peer_entry *entries, size_t n)
{
    if (type != PEER_IHAVE && type != PEER_GRAFT && type != PEER_PRUNE) return GIF_E_INVALID;
    return encode_entries(b, type, entries, n);
}

int peer_encode_want(struct peer_buf *b, const struct peer_range *ranges, size_t n)
{
    struct peer_builder pb;
    TRY(peer_build_begin(&pb, b, PEER_WANT));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = peer_build_range(&pb, &ranges[i]);
    return list_finish(&pb, rc);
}

int peer_encode_records(struct peer_buf *b, const struct proto_bytes *recs, size_t n)
{
    struct peer_builder pb;
    TRY(peer_build_begin(&pb, b, PEER_RECORDS));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = peer_build_record(&pb, recs[i].p, recs[i].n);
    return list_finish(&pb, rc);
}
