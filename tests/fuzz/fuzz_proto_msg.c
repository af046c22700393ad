/*
 * Fuzz harness for the peer wire layer: the input is a byte stream as a peer would send it.
 * Every frame found must parse the same way whatever prefix of it has arrived (-EAGAIN until
 * it is whole), and every payload that decodes must re-encode to exactly the same frame (one
 * encoding per message), with the list walkers yielding exactly the count the decoder saw.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void reencode(const struct peer_msg *msg, struct peer_buf *b)
{
    struct peer_msg m = *msg;
    struct peer_builder pb;
    struct peer_entry e;
    struct peer_range r;
    struct proto_bytes rec;
    size_t n = 0;
    switch (m.type) {
    case PEER_HELLO:
        if (peer_encode_hello(b, &m.u.hello) != 0) abort();
        return;
    case PEER_PING:
    case PEER_PONG:
        if (peer_encode_ping(b, m.type, &m.u.ping) != 0) abort();
        return;
    case PEER_BYE:
        if (peer_encode_bye(b, m.u.bye.code, &m.u.bye.reason) != 0) abort();
        return;
    default:
        break;
    }
    if (peer_build_begin(&pb, b, m.type) != 0) abort();
    switch (m.type) {
    case PEER_VV:
    case PEER_IHAVE:
    case PEER_GRAFT:
    case PEER_PRUNE:
        for (; peer_next_entry(&m.u.list, &e); n++)
            if (peer_build_entry(&pb, &e) != 0) abort();
        break;
    case PEER_WANT:
        for (; peer_next_range(&m.u.list, &r); n++)
            if (peer_build_range(&pb, &r) != 0) abort();
        break;
    case PEER_RECORDS:
        for (; peer_next_record(&m.u.list, &rec); n++)
            if (peer_build_record(&pb, rec.p, rec.n) != 0) abort();
        break;
    default:
        abort();
    }
    if (n != m.u.list.count || m.u.list.p != m.u.list.end) abort();
    if (peer_build_end(&pb) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct peer_buf b;
    peer_buf_init(&b, PEER_HEADER_LEN + PEER_FRAME_MAX);
    size_t off = 0;
    while (off < size) {
        struct peer_frame f;
        size_t used;
        int rc = peer_frame_parse(data + off, size - off, &f, &used);
        if (rc != 0) {
            if (rc == -EAGAIN && used != 0) abort();
            break;
        }
        if (used < PEER_HEADER_LEN || used > size - off) abort();
        /* Any shorter prefix is "need more", never an error: the header was fine. */
        struct peer_frame g;
        size_t u2;
        for (size_t k = 0; k < used && k < 8; k++)
            if (peer_frame_parse(data + off, k, &g, &u2) != -EAGAIN) abort();
        if (peer_frame_parse(data + off, used - 1, &g, &u2) != -EAGAIN) abort();

        struct peer_msg m;
        if (peer_msg_decode(&f, &m) == 0) {
            b.len = 0;
            reencode(&m, &b);
            if (b.len != used || memcmp(b.data, data + off, used) != 0) abort();
        }
        off += used;
    }
    peer_buf_free(&b);
    return 0;
}
