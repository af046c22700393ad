/* Unit tests for protocol/peer.c: frames, every message's round trip, the documented test
 * vector, the builder's frame filling, and every rejection. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/peer.h"
#include "util/gif.h"

#define S(lit) ((struct proto_str){(lit), sizeof(lit) - 1})
#define LIMIT (4u * (PEER_HEADER_LEN + PEER_FRAME_MAX))

/* ---- A tiny byte writer for hand-made payloads, so the tests do not trust the encoder. */

struct w {
    uint8_t *p;
    size_t n, cap;
};

static void put(struct w *w, const void *src, size_t n)
{
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 64;
        w->p = realloc(w->p, w->cap);
        assert_non_null(w->p);
    }
    memcpy(w->p + w->n, src, n);
    w->n += n;
}

static void put1(struct w *w, uint8_t b)
{
    put(w, &b, 1);
}

static void put_be(struct w *w, uint64_t v, size_t n)
{
    for (size_t i = n; i-- > 0;)
        put1(w, (uint8_t)(v >> (8 * i)));
}

/* bin8 of n bytes, all `fill`. */
static void put_binf(struct w *w, size_t n, uint8_t fill)
{
    put1(w, 0xc4);
    put1(w, (uint8_t)n);
    for (size_t i = 0; i < n; i++)
        put1(w, fill);
}

static void put_entry(struct w *w, uint8_t origin, uint8_t seq, uint8_t id)
{
    put1(w, 0x93);
    put_binf(w, 32, origin);
    put1(w, seq);
    put_binf(w, 32, id);
}

static int dec(uint8_t type, const struct w *w, struct peer_msg *m)
{
    return peer_payload_decode(type, w->p, w->n, m);
}

static void wfree(struct w *w)
{
    free(w->p);
    memset(w, 0, sizeof *w);
}

static size_t unhex(uint8_t *out, size_t max, const char *hex)
{
    size_t n = 0;
    for (const char *s = hex; *s; s++) {
        if (*s == ' ' || *s == '\n') continue;
        assert_true(n < max * 2);
        char c = *s;
        int v = c >= 'a' ? c - 'a' + 10 : c - '0';
        if (n % 2 == 0)
            out[n / 2] = (uint8_t)(v << 4);
        else
            out[n / 2] |= (uint8_t)v;
        n++;
    }
    return n / 2;
}

/* Parses exactly one whole frame from b and decodes it. */
static void one_frame(const struct peer_buf *b, size_t off, struct peer_msg *m, size_t *used)
{
    struct peer_frame f;
    assert_int_equal(peer_frame_parse(b->data + off, b->len - off, &f, used), 0);
    assert_int_equal(peer_msg_decode(&f, m), 0);
}

/* ---- Frames. */

static void test_frame_incremental(void **state)
{
    (void)state;
    struct peer_buf b;
    peer_buf_init(&b, LIMIT);
    struct peer_ping p = {42, 1795000000000ull};
    assert_int_equal(peer_encode_ping(&b, PEER_PING, &p), 0);
    assert_int_equal(peer_encode_ihave(&b, PEER_PRUNE, NULL, 0), 0);
    struct peer_frame f;
    size_t used;
    size_t first = PEER_HEADER_LEN + 1 + 1 + 9;
    for (size_t k = 0; k < first; k++)
        assert_int_equal(peer_frame_parse(b.data, k, &f, &used), -EAGAIN);
    assert_int_equal(peer_frame_parse(b.data, b.len, &f, &used), 0);
    assert_int_equal(used, first);
    assert_int_equal(f.type, PEER_PING);
    assert_int_equal(f.len, first - PEER_HEADER_LEN);
    assert_ptr_equal(f.payload, b.data + PEER_HEADER_LEN);
    /* The second frame follows at once. */
    assert_int_equal(peer_frame_parse(b.data + used, b.len - used, &f, &used), 0);
    assert_int_equal(f.type, PEER_PRUNE);
    assert_int_equal(used, PEER_HEADER_LEN + 1);
    peer_buf_free(&b);
}

static void test_frame_early_errors(void **state)
{
    (void)state;
    struct peer_frame f;
    size_t used = 99;
    uint8_t h[PEER_HEADER_LEN] = {2, PEER_VV, 0, 0, 0, 1};
    /* A foreign version is refused from its first byte. */
    assert_int_equal(peer_frame_parse(h, 1, &f, &used), GIF_E_VERSION);
    assert_int_equal(used, 0);
    h[0] = 0;
    assert_int_equal(peer_frame_parse(h, 6, &f, &used), GIF_E_VERSION);
    h[0] = 1;
    h[1] = 0;
    assert_int_equal(peer_frame_parse(h, 2, &f, &used), GIF_E_MALFORMED);
    h[1] = PEER_TYPE_MAX + 1;
    assert_int_equal(peer_frame_parse(h, 2, &f, &used), GIF_E_MALFORMED);
    h[1] = 0xff;
    assert_int_equal(peer_frame_parse(h, 6, &f, &used), GIF_E_MALFORMED);
    /* Over the cap: refused once the header is in, with none of the payload. */
    h[1] = PEER_RECORDS;
    uint32_t n = PEER_FRAME_MAX + 1;
    h[2] = (uint8_t)(n >> 24), h[3] = (uint8_t)(n >> 16), h[4] = (uint8_t)(n >> 8),
    h[5] = (uint8_t)n;
    assert_int_equal(peer_frame_parse(h, 5, &f, &used), -EAGAIN);
    assert_int_equal(peer_frame_parse(h, 6, &f, &used), GIF_E_TOOBIG);
    memset(h + 2, 0xff, 4);
    assert_int_equal(peer_frame_parse(h, 6, &f, &used), GIF_E_TOOBIG);
    assert_null(f.payload);
    /* Exactly the cap is allowed: waiting for the payload. */
    n = PEER_FRAME_MAX;
    h[2] = (uint8_t)(n >> 24), h[3] = (uint8_t)(n >> 16), h[4] = (uint8_t)(n >> 8),
    h[5] = (uint8_t)n;
    assert_int_equal(peer_frame_parse(h, 6, &f, &used), -EAGAIN);
    /* A zero-length frame is whole at once (its payload is then malformed). */
    uint8_t z[PEER_HEADER_LEN] = {1, PEER_PING, 0, 0, 0, 0};
    assert_int_equal(peer_frame_parse(z, 6, &f, &used), 0);
    assert_int_equal(used, 6);
    struct peer_msg m;
    assert_int_equal(peer_msg_decode(&f, &m), GIF_E_MALFORMED);
}

/* ---- Round trips. */

static void test_hello_roundtrip(void **state)
{
    (void)state;
    struct peer_buf b;
    peer_buf_init(&b, LIMIT);
    struct peer_hello h = {.software = S("gifd/0.1.0"),
                           .listen_addr = S("127.0.0.1:7481"),
                           .features = 0,
                           .time_ms = 1795000000000ull};
    memset(h.node_key, 0x5a, 32);
    assert_int_equal(peer_encode_hello(&b, &h), 0);
    struct peer_msg m;
    size_t used;
    one_frame(&b, 0, &m, &used);
    assert_int_equal(used, b.len);
    assert_int_equal(m.type, PEER_HELLO);
    assert_memory_equal(m.u.hello.node_key, h.node_key, 32);
    assert_int_equal(m.u.hello.software.n, 10);
    assert_memory_equal(m.u.hello.software.p, "gifd/0.1.0", 10);
    assert_int_equal(m.u.hello.listen_addr.n, 14);
    assert_int_equal(m.u.hello.features, 0);
    assert_int_equal(m.u.hello.time_ms, 1795000000000ull);
    /* An empty listen address (a node that accepts no connections) is fine. */
    h.listen_addr = S("");
    h.features = UINT64_MAX;
    size_t off = b.len;
    assert_int_equal(peer_encode_hello(&b, &h), 0);
    one_frame(&b, off, &m, &used);
    assert_int_equal(m.u.hello.listen_addr.n, 0);
    assert_int_equal(m.u.hello.features, UINT64_MAX);
    peer_buf_free(&b);
}

static void test_ping_pong_bye_prune(void **state)
{
    (void)state;
    struct peer_buf b;
    peer_buf_init(&b, LIMIT);
    struct peer_ping p = {UINT64_MAX, 1795000000123ull};
    assert_int_equal(peer_encode_ping(&b, PEER_PING, &p), 0);
    assert_int_equal(peer_encode_ping(&b, PEER_PONG, &p), 0);
    assert_int_equal(peer_encode_ping(&b, PEER_BYE, &p), GIF_E_INVALID);
    struct proto_str reason = S("shutting down");
    assert_int_equal(peer_encode_bye(&b, PEER_BYE_GOING_AWAY, &reason), 0);
    assert_int_equal(peer_encode_bye(&b, 77, NULL), 0);
    assert_int_equal(peer_encode_ihave(&b, PEER_PRUNE, NULL, 0), 0);

    struct peer_msg m;
    size_t off = 0, used;
    one_frame(&b, off, &m, &used);
    assert_int_equal(m.type, PEER_PING);
    assert_int_equal(m.u.ping.nonce, UINT64_MAX);
    assert_int_equal(m.u.ping.time_ms, 1795000000123ull);
    off += used;
    one_frame(&b, off, &m, &used);
    assert_int_equal(m.type, PEER_PONG);
    assert_int_equal(m.u.ping.nonce, UINT64_MAX);
    off += used;
    one_frame(&b, off, &m, &used);
    assert_int_equal(m.type, PEER_BYE);
    assert_int_equal(m.u.bye.code, PEER_BYE_GOING_AWAY);
    assert_int_equal(m.u.bye.reason.n, 13);
    assert_string_equal(peer_bye_name(m.u.bye.code), "going_away");
    off += used;
    one_frame(&b, off, &m, &used);
    assert_int_equal(m.u.bye.code, 77); /* unknown codes are carried, not refused */
    assert_null(peer_bye_name(77));
    assert_int_equal(m.u.bye.reason.n, 0);
    off += used;
    one_frame(&b, off, &m, &used);
    assert_int_equal(m.type, PEER_PRUNE);
    assert_int_equal(m.u.list.count, 0);
    assert_int_equal(used, PEER_HEADER_LEN + 1);
    off += used;
    assert_int_equal(off, b.len);
    assert_string_equal(peer_type_name(PEER_RECORDS), "records");
    assert_null(peer_type_name(0));
    assert_null(peer_type_name(11));
    peer_buf_free(&b);
}

static void fill_entries(struct peer_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        memset(&e[i], 0, sizeof e[i]);
        e[i].origin[0] = (uint8_t)(i >> 8);
        e[i].origin[1] = (uint8_t)i;
        e[i].seq = (uint64_t)i * 1000003 + 1;
        memset(e[i].id, (int)(i & 0xff), 32);
    }
}

static void test_lists_roundtrip(void **state)
{
    (void)state;
    struct peer_buf b;
    peer_buf_init(&b, LIMIT);
    static struct peer_entry e[PEER_VV_MAX];
    /* Sizes on both sides of the fixarray/array16 boundary and the caps. */
    const size_t sizes[] = {0, 1, 15, 16, 17, PEER_VV_MAX};
    for (size_t s = 0; s < GIF_ARRAY_LEN(sizes); s++) {
        size_t n = sizes[s];
        fill_entries(e, n);
        for (uint8_t type = PEER_VV; type <= PEER_PRUNE; type++) {
            if (type == PEER_WANT || type == PEER_RECORDS) continue;
            b.len = 0;
            if (type == PEER_VV)
                assert_int_equal(peer_encode_vv(&b, e, n), 0);
            else
                assert_int_equal(peer_encode_ihave(&b, type, e, n), 0);
            struct peer_msg m;
            size_t used;
            one_frame(&b, 0, &m, &used);
            assert_int_equal(used, b.len);
            assert_int_equal(m.type, type);
            assert_int_equal(m.u.list.count, n);
            struct peer_entry got;
            struct peer_range r;
            assert_false(peer_next_range(&m.u.list, &r)); /* wrong walker */
            for (size_t i = 0; i < n; i++) {
                assert_true(peer_next_entry(&m.u.list, &got));
                assert_memory_equal(&got, &e[i], sizeof got);
            }
            assert_false(peer_next_entry(&m.u.list, &got));
        }
    }

    /* WANT */
    static struct peer_range rg[PEER_WANT_MAX];
    for (size_t i = 0; i < PEER_WANT_MAX; i++) {
        memset(&rg[i], 0, sizeof rg[i]);
        rg[i].origin[31] = (uint8_t)i;
        rg[i].from_seq = i + 1;
        rg[i].to_seq = i % 2 ? i + 1 : UINT64_MAX;
    }
    b.len = 0;
    assert_int_equal(peer_encode_want(&b, rg, PEER_WANT_MAX), 0);
    struct peer_msg m;
    size_t used;
    one_frame(&b, 0, &m, &used);
    assert_int_equal(m.u.list.count, PEER_WANT_MAX);
    struct peer_range r;
    struct peer_entry en;
    assert_false(peer_next_entry(&m.u.list, &en));
    for (size_t i = 0; i < PEER_WANT_MAX; i++) {
        assert_true(peer_next_range(&m.u.list, &r));
        assert_memory_equal(&r, &rg[i], sizeof r);
    }
    assert_false(peer_next_range(&m.u.list, &r));

    /* RECORDS: exact bytes out, undecoded. */
    uint8_t r1[] = {0x92, 1, 2}, r2[300];
    memset(r2, 0xee, sizeof r2);
    struct proto_bytes recs[] = {{r1, sizeof r1}, {r2, sizeof r2}};
    b.len = 0;
    assert_int_equal(peer_encode_records(&b, recs, 2), 0);
    one_frame(&b, 0, &m, &used);
    assert_int_equal(m.u.list.count, 2);
    struct proto_bytes got;
    assert_true(peer_next_record(&m.u.list, &got));
    assert_int_equal(got.n, 3);
    assert_memory_equal(got.p, r1, 3);
    assert_true(peer_next_record(&m.u.list, &got));
    assert_int_equal(got.n, 300);
    assert_ptr_equal(got.p, b.data + used - 300);
    assert_false(peer_next_record(&m.u.list, &got));
    peer_buf_free(&b);
}

/* ---- The test vector in docs/protocol.md. */

static const char VV_VECTOR[] =
    "01020000008f9293c42079b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad04966401c420"
    "33ab886d7843a71620b23d44ffaa7525bf5bb5b4ac35bd7abab533e65945d13793c420aaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaacd012cc420bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbb";

static void test_vv_vector(void **state)
{
    (void)state;
    struct peer_entry e[2];
    memset(e, 0, sizeof e);
    unhex(e[0].origin, 32, "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664");
    e[0].seq = 1;
    unhex(e[0].id, 32, "33ab886d7843a71620b23d44ffaa7525bf5bb5b4ac35bd7abab533e65945d137");
    memset(e[1].origin, 0xaa, 32);
    e[1].seq = 300;
    memset(e[1].id, 0xbb, 32);

    uint8_t want[256];
    size_t wn = unhex(want, sizeof want, VV_VECTOR);
    assert_int_equal(wn, PEER_HEADER_LEN + 143);

    struct peer_buf b;
    peer_buf_init(&b, LIMIT);
    assert_int_equal(peer_encode_vv(&b, e, 2), 0);
    assert_int_equal(b.len, wn);
    assert_memory_equal(b.data, want, wn);

    struct peer_frame f;
    size_t used;
    assert_int_equal(peer_frame_parse(want, wn, &f, &used), 0);
    struct peer_msg m;
    assert_int_equal(peer_msg_decode(&f, &m), 0);
    assert_int_equal(m.type, PEER_VV);
    struct peer_entry got;
    for (int i = 0; i < 2; i++) {
        assert_true(peer_next_entry(&m.u.list, &got));
        assert_memory_equal(&got, &e[i], sizeof got);
    }
    /* Swapped, the same entries are not canonical: the encoder refuses, the decoder too. */
    struct peer_entry sw[2] = {e[1], e[0]};
    size_t before = b.len;
    assert_int_equal(peer_encode_vv(&b, sw, 2), GIF_E_INVALID);
    assert_int_equal(b.len, before);
    peer_buf_free(&b);
}

/* ---- Builder. */

static void test_builder_fills_frames(void **state)
{
    (void)state;
    struct peer_buf b;
    peer_buf_init(&b, LIMIT);
    uint8_t *big = malloc(PROTO_RECORD_MAX);
    assert_non_null(big);
    memset(big, 0x42, PROTO_RECORD_MAX);

    /* Whole 256 KiB records: three fit a 1 MiB frame (each costs 5 + 262144 bytes). */
    struct peer_builder pb;
    assert_int_equal(peer_build_begin(&pb, &b, PEER_RECORDS), 0);
    int added = 0, frames = 1;
    for (int i = 0; i < 7; i++) {
        int rc = peer_build_record(&pb, big, PROTO_RECORD_MAX);
        if (rc == -ENOSPC) {
            assert_int_equal(peer_build_count(&pb), 3);
            assert_int_equal(peer_build_end(&pb), 0);
            assert_int_equal(peer_build_begin(&pb, &b, PEER_RECORDS), 0);
            frames++;
            rc = peer_build_record(&pb, big, PROTO_RECORD_MAX);
        }
        assert_int_equal(rc, 0);
        added++;
    }
    assert_int_equal(peer_build_end(&pb), 0);
    assert_int_equal(frames, 3);
    assert_int_equal(peer_build_record(&pb, big, 1), GIF_E_INVALID); /* ended */
    size_t off = 0, used, total = 0;
    for (int i = 0; i < frames; i++) {
        struct peer_msg m;
        one_frame(&b, off, &m, &used);
        assert_true(used - PEER_HEADER_LEN <= PEER_FRAME_MAX);
        struct proto_bytes rec;
        while (peer_next_record(&m.u.list, &rec)) {
            assert_int_equal(rec.n, PROTO_RECORD_MAX);
            total++;
        }
        off += used;
    }
    assert_int_equal(off, b.len);
    assert_int_equal(total, added);

    /* A record over PROTO_RECORD_MAX fits no frame; an empty one is no record. */
    b.len = 0;
    assert_int_equal(peer_build_begin(&pb, &b, PEER_RECORDS), 0);
    assert_int_equal(peer_build_record(&pb, big, PROTO_RECORD_MAX + 1), GIF_E_TOOBIG);
    assert_int_equal(peer_build_record(&pb, big, 0), GIF_E_INVALID);
    struct peer_entry e = {.seq = 1};
    assert_int_equal(peer_build_entry(&pb, &e), GIF_E_INVALID); /* wrong kind */
    peer_build_abort(&pb);
    assert_int_equal(b.len, 0);

    /* The count cap: small records up to PEER_RECORDS_MAX, then -ENOSPC. */
    assert_int_equal(peer_build_begin(&pb, &b, PEER_RECORDS), 0);
    for (int i = 0; i < PEER_RECORDS_MAX; i++)
        assert_int_equal(peer_build_record(&pb, big, 10), 0);
    assert_int_equal(peer_build_record(&pb, big, 10), -ENOSPC);
    assert_int_equal(peer_build_end(&pb), 0);
    struct peer_msg m;
    one_frame(&b, 0, &m, &used);
    assert_int_equal(m.u.list.count, PEER_RECORDS_MAX);

    /* The whole-list encoder refuses what one frame cannot hold. */
    struct proto_bytes four[4] = {{big, PROTO_RECORD_MAX},
                                  {big, PROTO_RECORD_MAX},
                                  {big, PROTO_RECORD_MAX},
                                  {big, PROTO_RECORD_MAX}};
    size_t before = b.len;
    assert_int_equal(peer_encode_records(&b, four, 4), GIF_E_TOOBIG);
    assert_int_equal(b.len, before);
    assert_int_equal(peer_encode_records(&b, four, 3), 0);
    assert_int_equal(peer_build_begin(&pb, &b, PEER_HELLO), GIF_E_INVALID);
    free(big);
    peer_buf_free(&b);
}

static void test_buffer_limit(void **state)
{
    (void)state;
    struct peer_buf b;
    peer_buf_init(&b, 64);
    struct peer_ping p = {1, 2};
    int n = 0;
    while (peer_encode_ping(&b, PEER_PING, &p) == 0)
        n++;
    assert_int_equal(n, 64 / (PEER_HEADER_LEN + 3));
    size_t before = b.len;
    assert_int_equal(peer_encode_ping(&b, PEER_PING, &p), -ENOBUFS);
    assert_int_equal(b.len, before); /* nothing half-written */
    struct peer_entry e[4];
    fill_entries(e, 4);
    assert_int_equal(peer_encode_vv(&b, e, 4), -ENOBUFS);
    assert_int_equal(b.len, before);
    peer_buf_consume(&b, PEER_HEADER_LEN + 3);
    assert_int_equal(b.len, before - (PEER_HEADER_LEN + 3));
    struct peer_msg m;
    size_t used;
    one_frame(&b, 0, &m, &used);
    assert_int_equal(m.u.ping.nonce, 1);
    peer_buf_consume(&b, 1000);
    assert_int_equal(b.len, 0);
    peer_buf_free(&b);
}

static void test_encoder_refusals(void **state)
{
    (void)state;
    struct peer_buf b;
    peer_buf_init(&b, LIMIT);
    struct peer_hello h = {.software = S("x"), .listen_addr = S("")};
    char longs[300];
    memset(longs, 'a', sizeof longs);
    h.software = (struct proto_str){longs, PEER_SOFTWARE_MAX + 1};
    assert_int_equal(peer_encode_hello(&b, &h), GIF_E_TOOBIG);
    h.software = (struct proto_str){longs, PEER_SOFTWARE_MAX};
    h.listen_addr = (struct proto_str){longs, PEER_ADDR_MAX + 1};
    assert_int_equal(peer_encode_hello(&b, &h), GIF_E_TOOBIG);
    h.listen_addr = S("\xc0\x80"); /* overlong NUL */
    assert_int_equal(peer_encode_hello(&b, &h), GIF_E_INVALID);
    struct proto_str bad = S("a\0b");
    assert_int_equal(peer_encode_bye(&b, 2, &bad), GIF_E_INVALID);
    char *huge = malloc(PEER_REASON_MAX + 1);
    memset(huge, 'r', PEER_REASON_MAX + 1);
    struct proto_str big = {huge, PEER_REASON_MAX + 1};
    assert_int_equal(peer_encode_bye(&b, 2, &big), GIF_E_TOOBIG);
    free(huge);
    assert_int_equal(b.len, 0);

    static struct peer_entry e[PEER_VV_MAX + 1];
    fill_entries(e, PEER_VV_MAX + 1);
    assert_int_equal(peer_encode_vv(&b, e, PEER_VV_MAX + 1), GIF_E_TOOBIG);
    e[1] = e[0]; /* repeated origin */
    assert_int_equal(peer_encode_vv(&b, e, 2), GIF_E_INVALID);
    fill_entries(e, 2);
    e[1].seq = 0;
    assert_int_equal(peer_encode_ihave(&b, PEER_IHAVE, e, 2), GIF_E_INVALID);
    assert_int_equal(peer_encode_ihave(&b, PEER_VV, e, 1), GIF_E_INVALID);
    struct peer_range r = {.from_seq = 0, .to_seq = 3};
    assert_int_equal(peer_encode_want(&b, &r, 1), GIF_E_INVALID);
    r.from_seq = 4;
    assert_int_equal(peer_encode_want(&b, &r, 1), GIF_E_INVALID);
    assert_int_equal(b.len, 0);
    peer_buf_free(&b);
}

/* ---- Decoder refusals, on hand-made payloads. */

static void test_refuse_long_forms(void **state)
{
    (void)state;
    struct peer_msg m;
    struct w w = {0};
    /* PING [5, 6] is 92 05 06; each longer form is refused. */
    put(&w, "\x92\x05\x06", 3);
    assert_int_equal(dec(PEER_PING, &w, &m), 0);
    wfree(&w);
    put(&w, "\x92\xcc\x05\x06", 4); /* uint8 for a fixint */
    assert_int_equal(dec(PEER_PING, &w, &m), GIF_E_NONCANONICAL);
    wfree(&w);
    put(&w, "\x92\x05\xcd\x00\xff", 5); /* uint16 for a uint8 value */
    assert_int_equal(dec(PEER_PING, &w, &m), GIF_E_NONCANONICAL);
    wfree(&w);
    put(&w, "\x92\x05\xcf\x00\x00\x00\x00\xff\xff\xff\xff", 11); /* uint64 for uint32 */
    assert_int_equal(dec(PEER_PING, &w, &m), GIF_E_NONCANONICAL);
    wfree(&w);
    put(&w, "\xdc\x00\x02\x05\x06", 5); /* array16 for a fixarray */
    assert_int_equal(dec(PEER_PING, &w, &m), GIF_E_NONCANONICAL);
    wfree(&w);
    put(&w, "\xdd\x00\x00\x00\x02\x05\x06", 7); /* array32 */
    assert_int_equal(dec(PEER_PING, &w, &m), GIF_E_NONCANONICAL);
    wfree(&w);
    put(&w, "\x92\xd0\x05\x06", 4); /* signed int */
    assert_int_equal(dec(PEER_PING, &w, &m), GIF_E_MALFORMED);
    wfree(&w);

    /* HELLO with a str8 where a fixstr fits, and a bin16 where a bin8 fits. */
    put1(&w, 0x95);
    put_binf(&w, 32, 1);
    put(&w, "\xd9\x03gif", 5);
    put(&w, "\xa0\x00\x00", 3);
    assert_int_equal(dec(PEER_HELLO, &w, &m), GIF_E_NONCANONICAL);
    wfree(&w);
    put1(&w, 0x95);
    put(&w, "\xc5\x00\x20", 3);
    for (int i = 0; i < 32; i++)
        put1(&w, 1);
    put(&w, "\xa3gif\xa0\x00\x00", 7);
    assert_int_equal(dec(PEER_HELLO, &w, &m), GIF_E_NONCANONICAL);
    wfree(&w);
    /* The same hello in canonical form passes, so the refusals above are about the forms. */
    put1(&w, 0x95);
    put_binf(&w, 32, 1);
    put(&w, "\xa3gif\xa0\x00\x00", 7);
    assert_int_equal(dec(PEER_HELLO, &w, &m), 0);
    wfree(&w);
}

static void test_refuse_vv_order(void **state)
{
    (void)state;
    struct peer_msg m;
    struct w w = {0};
    put1(&w, 0x92);
    put_entry(&w, 1, 5, 9);
    put_entry(&w, 2, 5, 9);
    assert_int_equal(dec(PEER_VV, &w, &m), 0);
    wfree(&w);
    put1(&w, 0x92);
    put_entry(&w, 2, 5, 9);
    put_entry(&w, 1, 5, 9);
    assert_int_equal(dec(PEER_VV, &w, &m), GIF_E_NONCANONICAL);
    wfree(&w);
    put1(&w, 0x92);
    put_entry(&w, 3, 5, 9);
    put_entry(&w, 3, 6, 9);
    assert_int_equal(dec(PEER_VV, &w, &m), GIF_E_NONCANONICAL);
    /* IHAVE and GRAFT carry no order rule: the same bytes are fine there. */
    assert_int_equal(dec(PEER_IHAVE, &w, &m), 0);
    assert_int_equal(dec(PEER_GRAFT, &w, &m), 0);
    wfree(&w);
}

static void test_refuse_shape(void **state)
{
    (void)state;
    struct peer_msg m;
    struct w w = {0};
    /* Trailing bytes. */
    put(&w, "\x92\x05\x06\x00", 4);
    assert_int_equal(dec(PEER_PING, &w, &m), GIF_E_MALFORMED);
    assert_int_equal(m.type, 0); /* zeroed on failure */
    wfree(&w);
    put(&w, "\x90\x90", 2);
    assert_int_equal(dec(PEER_PRUNE, &w, &m), GIF_E_MALFORMED);
    wfree(&w);
    put(&w, "\x91\x90", 2); /* a PRUNE entry of no fields */
    assert_int_equal(dec(PEER_PRUNE, &w, &m), GIF_E_MALFORMED);
    wfree(&w);
    /* Wrong arity. */
    put(&w, "\x93\x05\x06\x07", 4);
    assert_int_equal(dec(PEER_PING, &w, &m), GIF_E_MALFORMED);
    wfree(&w);
    put(&w, "\x91\x05", 2);
    assert_int_equal(dec(PEER_PRUNE, &w, &m), GIF_E_MALFORMED);
    wfree(&w);
    put(&w, "\x91\x05", 2);
    assert_int_equal(dec(PEER_BYE, &w, &m), GIF_E_MALFORMED);
    wfree(&w);
    put1(&w, 0x94);
    put_binf(&w, 32, 1);
    put(&w, "\xa3gif\xa0\x00", 6);
    assert_int_equal(dec(PEER_HELLO, &w, &m), GIF_E_MALFORMED);
    wfree(&w);
    put(&w, "\x91\x92", 2); /* a VV entry of two fields */
    put_binf(&w, 32, 1);
    put1(&w, 1);
    assert_int_equal(dec(PEER_VV, &w, &m), GIF_E_MALFORMED);
    wfree(&w);
    put(&w, "\x91\x94", 2); /* a WANT range of four fields */
    put_binf(&w, 32, 1);
    put(&w, "\x01\x02\x03", 3);
    assert_int_equal(dec(PEER_WANT, &w, &m), GIF_E_MALFORMED);
    wfree(&w);
    /* Wrong value types: a str where a bin belongs, a map, nil, an empty payload. */
    put(&w, "\x91\xa1x", 3);
    assert_int_equal(dec(PEER_RECORDS, &w, &m), GIF_E_MALFORMED);
    wfree(&w);
    put(&w, "\x80", 1);
    assert_int_equal(dec(PEER_VV, &w, &m), GIF_E_MALFORMED);
    wfree(&w);
    put(&w, "\xc0", 1);
    assert_int_equal(dec(PEER_PRUNE, &w, &m), GIF_E_MALFORMED);
    wfree(&w);
    assert_int_equal(peer_payload_decode(PEER_PRUNE, (const uint8_t *)"", 0, &m), GIF_E_MALFORMED);
    assert_int_equal(peer_payload_decode(0, (const uint8_t *)"\x90", 1, &m), GIF_E_MALFORMED);
    assert_int_equal(peer_payload_decode(11, (const uint8_t *)"\x90", 1, &m), GIF_E_MALFORMED);
    /* A frame whose version field says otherwise. */
    struct peer_frame f = {2, PEER_PRUNE, (const uint8_t *)"\x90", 1};
    assert_int_equal(peer_msg_decode(&f, &m), GIF_E_VERSION);
}

static void test_refuse_counts(void **state)
{
    (void)state;
    struct peer_msg m;
    struct w w = {0};
    /* Counts beyond the bytes that remain: refused before any element is read. */
    put(&w, "\xdc\x0f\xff", 3);
    assert_int_equal(dec(PEER_VV, &w, &m), GIF_E_MALFORMED);
    wfree(&w);
    put(&w, "\xdd\xff\xff\xff\xff", 5); /* four billion entries in five bytes */
    assert_int_equal(dec(PEER_RECORDS, &w, &m), GIF_E_MALFORMED);
    wfree(&w);
    put(&w, "\x92\x93", 2); /* two entries announced, one incomplete present */
    put_binf(&w, 32, 1);
    assert_int_equal(dec(PEER_IHAVE, &w, &m), GIF_E_MALFORMED);
    wfree(&w);
    put(&w, "\x91\xc5\x10\x00", 4); /* a record of 4096 bytes, 0 present */
    assert_int_equal(dec(PEER_RECORDS, &w, &m), GIF_E_MALFORMED);
    wfree(&w);
    put(&w,
        "\x92\x01\xa5"
        "abc",
        5); /* a reason of 5 bytes, 3 present */
    assert_int_equal(dec(PEER_BYE, &w, &m), GIF_E_MALFORMED);
    wfree(&w);

    /* Over the caps, with all the bytes present. */
    put1(&w, 0xdc);
    put_be(&w, PEER_VV_MAX + 1, 2);
    for (size_t i = 0; i <= PEER_VV_MAX; i++) {
        put1(&w, 0x93);
        put1(&w, 0xc4);
        put1(&w, 32);
        for (int k = 0; k < 30; k++)
            put1(&w, 0);
        put_be(&w, i, 2);
        put1(&w, 1);
        put_binf(&w, 32, 0);
    }
    assert_int_equal(dec(PEER_VV, &w, &m), GIF_E_TOOBIG);
    /* One fewer is within the cap. */
    w.p[1] = (uint8_t)(PEER_VV_MAX >> 8), w.p[2] = (uint8_t)PEER_VV_MAX;
    w.n -= 70;
    assert_int_equal(dec(PEER_VV, &w, &m), 0);
    assert_int_equal(m.u.list.count, PEER_VV_MAX);
    wfree(&w);
    put1(&w, 0xdc);
    put_be(&w, PEER_WANT_MAX + 1, 2);
    for (size_t i = 0; i <= PEER_WANT_MAX; i++) {
        put1(&w, 0x93);
        put_binf(&w, 32, 7);
        put(&w, "\x01\x02", 2);
    }
    assert_int_equal(dec(PEER_WANT, &w, &m), GIF_E_TOOBIG);
    wfree(&w);
    put1(&w, 0xdc);
    put_be(&w, PEER_IHAVE_MAX + 1, 2);
    for (size_t i = 0; i <= PEER_IHAVE_MAX; i++)
        put_entry(&w, 1, 1, 1);
    assert_int_equal(dec(PEER_GRAFT, &w, &m), GIF_E_TOOBIG);
    wfree(&w);
    put1(&w, 0xdc);
    put_be(&w, PEER_RECORDS_MAX + 1, 2);
    for (size_t i = 0; i <= PEER_RECORDS_MAX; i++)
        put(&w, "\xc4\x01\x00", 3);
    assert_int_equal(dec(PEER_RECORDS, &w, &m), GIF_E_TOOBIG);
    wfree(&w);
    /* A record over PROTO_RECORD_MAX. */
    put(&w, "\x91\xc6", 2);
    put_be(&w, PROTO_RECORD_MAX + 1, 4);
    for (size_t i = 0; i <= PROTO_RECORD_MAX; i++)
        put1(&w, 0);
    assert_int_equal(dec(PEER_RECORDS, &w, &m), GIF_E_TOOBIG);
    wfree(&w);
    /* Strings over their caps. */
    put1(&w, 0x95);
    put_binf(&w, 32, 1);
    put(&w, "\xd9\x41", 2);
    for (int i = 0; i < 65; i++)
        put1(&w, 'a');
    put(&w, "\xa0\x00\x00", 3);
    assert_int_equal(dec(PEER_HELLO, &w, &m), GIF_E_TOOBIG);
    wfree(&w);
    put(&w, "\x92\x02\xda\x04\x01", 5);
    for (int i = 0; i < 1025; i++)
        put1(&w, 'a');
    assert_int_equal(dec(PEER_BYE, &w, &m), GIF_E_TOOBIG);
    wfree(&w);
    /* A payload over the frame cap. */
    uint8_t *big = calloc(1, PEER_FRAME_MAX + 1);
    assert_non_null(big);
    assert_int_equal(peer_payload_decode(PEER_RECORDS, big, PEER_FRAME_MAX + 1, &m), GIF_E_TOOBIG);
    free(big);
}

static void test_refuse_values(void **state)
{
    (void)state;
    struct peer_msg m;
    struct w w = {0};
    /* Wrong bin lengths: origin 31, id 33, node key 0. */
    put(&w, "\x91\x93", 2);
    put_binf(&w, 31, 1);
    put1(&w, 1);
    put_binf(&w, 32, 1);
    assert_int_equal(dec(PEER_VV, &w, &m), GIF_E_INVALID);
    wfree(&w);
    put(&w, "\x91\x93", 2);
    put_binf(&w, 32, 1);
    put1(&w, 1);
    put_binf(&w, 33, 1);
    assert_int_equal(dec(PEER_IHAVE, &w, &m), GIF_E_INVALID);
    wfree(&w);
    put(&w, "\x95\xc4\x00\xa0\xa0\x00\x00", 7);
    assert_int_equal(dec(PEER_HELLO, &w, &m), GIF_E_INVALID);
    wfree(&w);
    /* seq 0; from 0; to < from; an empty record. */
    put1(&w, 0x91);
    put_entry(&w, 1, 0, 1);
    assert_int_equal(dec(PEER_VV, &w, &m), GIF_E_INVALID);
    wfree(&w);
    put(&w, "\x91\x93", 2);
    put_binf(&w, 32, 1);
    put(&w, "\x00\x05", 2);
    assert_int_equal(dec(PEER_WANT, &w, &m), GIF_E_INVALID);
    wfree(&w);
    put(&w, "\x91\x93", 2);
    put_binf(&w, 32, 1);
    put(&w, "\x06\x05", 2);
    assert_int_equal(dec(PEER_WANT, &w, &m), GIF_E_INVALID);
    w.p[w.n - 2] = 5; /* from == to is one record */
    assert_int_equal(dec(PEER_WANT, &w, &m), 0);
    wfree(&w);
    put(&w, "\x91\xc4\x00", 3);
    assert_int_equal(dec(PEER_RECORDS, &w, &m), GIF_E_INVALID);
    wfree(&w);
    /* Invalid UTF-8: overlong, surrogate, NUL, a truncated sequence, in HELLO and BYE. */
    const char *bad[] = {"\xc0\x80", "\xed\xa0\x80", "a\0", "\xe2\x82", "\xf5\x80\x80\x80"};
    const size_t badn[] = {2, 3, 2, 2, 4};
    for (size_t i = 0; i < GIF_ARRAY_LEN(bad); i++) {
        put(&w, "\x92\x01", 2);
        put1(&w, (uint8_t)(0xa0 | badn[i]));
        put(&w, bad[i], badn[i]);
        assert_int_equal(dec(PEER_BYE, &w, &m), GIF_E_INVALID);
        wfree(&w);
        put1(&w, 0x95);
        put_binf(&w, 32, 1);
        put1(&w, 0xa0);
        put1(&w, (uint8_t)(0xa0 | badn[i]));
        put(&w, bad[i], badn[i]);
        put(&w, "\x00\x00", 2);
        assert_int_equal(dec(PEER_HELLO, &w, &m), GIF_E_INVALID);
        wfree(&w);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_incremental),    cmocka_unit_test(test_frame_early_errors),
        cmocka_unit_test(test_hello_roundtrip),      cmocka_unit_test(test_ping_pong_bye_prune),
        cmocka_unit_test(test_lists_roundtrip),      cmocka_unit_test(test_vv_vector),
        cmocka_unit_test(test_builder_fills_frames), cmocka_unit_test(test_buffer_limit),
        cmocka_unit_test(test_encoder_refusals),     cmocka_unit_test(test_refuse_long_forms),
        cmocka_unit_test(test_refuse_vv_order),      cmocka_unit_test(test_refuse_shape),
        cmocka_unit_test(test_refuse_counts),        cmocka_unit_test(test_refuse_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
