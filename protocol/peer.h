/*
 * gifnet peer wire layer: frames and the messages peers exchange over mutually authenticated
 * TLS. docs/protocol.md ("Peer protocol") specifies every byte and the rules for using them.
 *
 * A frame is
 *     version u8 (= 1) | type u8 | length u32 big-endian | payload[length]
 * with at most PEER_FRAME_MAX payload bytes; the payload is one canonical msgpack value
 * (the same rules as records) whose shape depends on the type.
 *
 * Decoding never allocates. peer_frame_parse finds a frame in a receive buffer;
 * peer_msg_decode checks the whole payload (shape, caps, canonical form) and fills a
 * struct peer_msg whose strings point into the caller's buffer, which must outlive it. The
 * long lists (VV, WANT, RECORDS, IHAVE, GRAFT) are not copied out: the decoder validates
 * every element, then the caller walks them with peer_next_entry / peer_next_range /
 * peer_next_record, which cannot fail on a list the decoder accepted.
 *
 * Encoding appends whole frames to a struct peer_buf, a growing buffer with a hard limit set
 * at init. A frame is either appended whole or not at all. The list messages can also be
 * built one element at a time (struct peer_builder) so that a sender fills frames up to the
 * cap.
 *
 * This module does no I/O.
 */
#ifndef GIF_PROTOCOL_PEER_H
#define GIF_PROTOCOL_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/record.h"

#define PEER_WIRE_VERSION 1
#define PEER_HEADER_LEN 6              /* version, type, length */
#define PEER_FRAME_MAX (1024 * 1024)   /* payload bytes per frame */
#define PEER_VV_MAX 4096               /* entries in a VV */
#define PEER_WANT_MAX 1024             /* ranges in a WANT */
#define PEER_RECORDS_MAX 4096          /* records in a RECORDS */
#define PEER_IHAVE_MAX 4096            /* entries in an IHAVE or GRAFT */
#define PEER_SOFTWARE_MAX 64           /* HELLO software, bytes */
#define PEER_ADDR_MAX PROTO_ADDR_MAX   /* HELLO listen address, bytes */
#define PEER_REASON_MAX PROTO_TEXT_MAX /* BYE reason, bytes */

enum peer_type {
    PEER_HELLO = 1,
    PEER_VV = 2,
    PEER_WANT = 3,
    PEER_RECORDS = 4,
    PEER_IHAVE = 5,
    PEER_GRAFT = 6,
    PEER_PRUNE = 7,
    PEER_PING = 8,
    PEER_PONG = 9,
    PEER_BYE = 10,
};
#define PEER_TYPE_MAX PEER_BYE

/* BYE codes. A decoder accepts any code (a newer peer may know more); unknown ones are
 * reported as such. */
enum peer_bye_code {
    PEER_BYE_GOING_AWAY = 1,
    PEER_BYE_PROTOCOL = 2, /* the peer sent a malformed, oversized or non-canonical frame */
    PEER_BYE_NOT_MEMBER = 3,
    PEER_BYE_REVOKED = 4,
    PEER_BYE_OVERLOADED = 5,
};

/* One frame found by peer_frame_parse; payload points into the caller's buffer. */
struct peer_frame {
    uint8_t version;
    uint8_t type; /* enum peer_type */
    const uint8_t *payload;
    size_t len;
};

struct peer_hello {
    uint8_t node_key[PROTO_KEY_LEN];
    struct proto_str software;    /* at most PEER_SOFTWARE_MAX bytes */
    struct proto_str listen_addr; /* host:port, at most PEER_ADDR_MAX bytes, may be empty */
    uint64_t features;            /* bit set; no bits are defined yet, unknown ones ignored */
    uint64_t time_ms;
};

/* PING and PONG. */
struct peer_ping {
    uint64_t nonce;
    uint64_t time_ms;
};

struct peer_bye {
    uint64_t code; /* enum peer_bye_code, or a code this build does not know */
    struct proto_str reason;
};

/* An element of VV, IHAVE and GRAFT. In a VV, seq is the origin's highest contiguous seq and
 * id the record there. seq is at least 1. */
struct peer_entry {
    uint8_t origin[PROTO_KEY_LEN];
    uint64_t seq;
    uint8_t id[PROTO_ID_LEN];
};

/* An element of WANT: origin's records from_seq..to_seq inclusive, 1 <= from_seq <= to_seq. */
struct peer_range {
    uint8_t origin[PROTO_KEY_LEN];
    uint64_t from_seq;
    uint64_t to_seq;
};

/* A validated list (VV, WANT, RECORDS, IHAVE, GRAFT, PRUNE). Walk it with
 * the peer_next_* function for its type. Points into the caller's buffer. */
struct peer_list {
    uint8_t type;
    size_t count;
    size_t next;            /* elements already walked */
    const uint8_t *p, *end; /* the unread elements */
};

struct peer_msg {
    uint8_t type; /* enum peer_type */
    union {
        struct peer_hello hello;
        struct peer_ping ping; /* PING and PONG */
        struct peer_bye bye;
        struct peer_list list; /* VV, WANT, RECORDS, IHAVE, GRAFT, PRUNE */
    } u;
};

/*
 * Finds the frame at the start of buf[0..len). Returns 0 with *out pointing into buf and
 * *consumed the frame's whole size (header and payload) when all of it is there; -EAGAIN
 * when more bytes are needed; GIF_E_VERSION (version byte not 1), GIF_E_MALFORMED (unknown
 * type) or GIF_E_TOOBIG (length over PEER_FRAME_MAX) as soon as the bytes that show it have
 * arrived, so that a receiver never buffers an oversized or foreign payload. Does not look at
 * the payload (peer_msg_decode does). On anything but 0, *out is zeroed and *consumed is 0.
 */
int peer_frame_parse(const uint8_t *buf, size_t len, struct peer_frame *out, size_t *consumed);

/*
 * Decodes and validates a frame's payload: the whole value, every element of a list included,
 * in canonical form and within its caps, with nothing after it. Returns 0, or
 * GIF_E_MALFORMED (wrong type or arity, bytes missing, trailing bytes), GIF_E_NONCANONICAL
 * (a longer form than needed, an unsorted or repeated VV origin), GIF_E_TOOBIG (a count or
 * length over its cap) or GIF_E_INVALID (a value outside its domain: wrong bin length, bad
 * UTF-8, seq 0, from_seq > to_seq). On success *out points into f's payload; on failure it is
 * zeroed.
 */
int peer_msg_decode(const struct peer_frame *f, struct peer_msg *out);

/* The same for a bare payload of the given type. */
int peer_payload_decode(uint8_t type, const uint8_t *p, size_t len, struct peer_msg *out);

/*
 * Walk a decoded list. Each returns true and fills its out-parameter with the next element,
 * or false at the end of the list or when the list is not of the function's kind:
 * peer_next_entry for VV, IHAVE, GRAFT and PRUNE, peer_next_range for WANT, peer_next_record for
 * RECORDS (rec points at the record's exact bytes in the frame; the layer does not decode
 * records).
 */
bool peer_next_entry(struct peer_list *l, struct peer_entry *e);
bool peer_next_range(struct peer_list *l, struct peer_range *r);
bool peer_next_record(struct peer_list *l, struct proto_bytes *rec);

/* Name of a message type ("hello", "vv", ...), or NULL if unknown. */
const char *peer_type_name(uint8_t type);
/* Name of a BYE code ("going_away", ...), or NULL if unknown. */
const char *peer_bye_name(uint64_t code);

/* ---- Encoding. */

/*
 * An output buffer that holds whole frames, appended one after another. data is malloc'd and
 * owned by the buffer: peer_buf_free releases it; the caller may read data[0..len) and, once
 * it has sent a prefix, drop it with peer_buf_consume. limit is the most bytes the buffer may
 * ever hold (the per-peer send budget); an append beyond it fails with -ENOBUFS.
 */
struct peer_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t limit;
};

/* Initialises an empty buffer that will hold at most limit bytes; with a limit of
 * PEER_HEADER_LEN + PEER_FRAME_MAX or more, any one frame fits. Allocates nothing. */
void peer_buf_init(struct peer_buf *b, size_t limit);
/* Frees the memory; the buffer is empty and may be reused. */
void peer_buf_free(struct peer_buf *b);
/* Drops the first n bytes (already sent). */
void peer_buf_consume(struct peer_buf *b, size_t n);

/*
 * Each appends one whole frame to b and returns 0, or on failure appends nothing and returns
 * GIF_E_INVALID (a field outside its domain, e.g. an unsorted VV or a range with from_seq 0),
 * GIF_E_TOOBIG (a string or count over its cap, or a payload over PEER_FRAME_MAX), -ENOBUFS
 * (b's limit) or -ENOMEM. The caller keeps ownership of everything it passed in.
 */
int peer_encode_hello(struct peer_buf *b, const struct peer_hello *h);
/* entries sorted by origin, strictly increasing; at most PEER_VV_MAX. */
int peer_encode_vv(struct peer_buf *b, const struct peer_entry *entries, size_t n);
int peer_encode_want(struct peer_buf *b, const struct peer_range *ranges, size_t n);
int peer_encode_records(struct peer_buf *b, const struct proto_bytes *recs, size_t n);
/* type is PEER_IHAVE, PEER_GRAFT or PEER_PRUNE. */
int peer_encode_ihave(struct peer_buf *b, uint8_t type, const struct peer_entry *entries, size_t n);
/* type is PEER_PING or PEER_PONG (a PONG echoes the PING's nonce). */
int peer_encode_ping(struct peer_buf *b, uint8_t type, const struct peer_ping *p);
int peer_encode_bye(struct peer_buf *b, uint64_t code, const struct proto_str *reason);

/*
 * Builds one list frame (VV, WANT, RECORDS, IHAVE or GRAFT) element by element, in place at
 * the end of b. Between begin and end/abort nothing else may be appended to b. Typical use,
 * filling frames with records:
 *
 *     peer_build_begin(&pb, b, PEER_RECORDS);
 *     while (have a record) {
 *         rc = peer_build_record(&pb, rec, n);
 *         if (rc == -ENOSPC) { peer_build_end(&pb); peer_build_begin(&pb, b, PEER_RECORDS);
 *                              continue; }  (retry the same record in the new frame)
 *         ...
 *     }
 *     peer_build_end(&pb);
 */
struct peer_builder {
    struct peer_buf *b;
    size_t start; /* offset of the frame in b */
    size_t count;
    uint8_t type;
    bool open;
    uint8_t last[PROTO_KEY_LEN]; /* the VV's previous origin, to keep the order canonical */
};

/* Starts a frame of the given list type. Returns 0, GIF_E_INVALID (not a list type),
 * -ENOBUFS or -ENOMEM (b unchanged). */
int peer_build_begin(struct peer_builder *pb, struct peer_buf *b, uint8_t type);

/*
 * Each adds one element and returns 0, or leaves the frame as it was and returns -ENOSPC
 * (the frame is full: its count cap or PEER_FRAME_MAX would be passed; end it and add the
 * element to a new one), GIF_E_INVALID (wrong element kind for the list, a field outside its
 * domain, a VV origin not after the previous one), GIF_E_TOOBIG (a record over
 * PROTO_RECORD_MAX: it fits no frame), -ENOBUFS or -ENOMEM.
 */
int peer_build_entry(struct peer_builder *pb, const struct peer_entry *e);
int peer_build_range(struct peer_builder *pb, const struct peer_range *r);
int peer_build_record(struct peer_builder *pb, const uint8_t *rec, size_t n);

/* Elements added so far. */
size_t peer_build_count(const struct peer_builder *pb);
/* Completes the frame (it may be empty: a VV of a node that has no records yet). Returns 0,
 * or GIF_E_INVALID when no frame is being built; it cannot otherwise fail, since it only
 * shrinks the array header reserved at begin. */
int peer_build_end(struct peer_builder *pb);
/* Removes the frame being built from b. */
void peer_build_abort(struct peer_builder *pb);

#endif
