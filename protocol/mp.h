/*
 * Strict canonical msgpack reader, internal to protocol/ (records and peer messages).
 *
 * A cursor over the caller's bytes rather than msgpack-c's unpacker: it allocates nothing,
 * checks every header against the bytes that remain and the field's cap before using it, and
 * refuses any encoding but the shortest one, so "canonical" (docs/protocol.md, Encoding) is
 * enforced by construction. Strings and byte strings it returns point into the caller's
 * buffer, which must outlive them.
 *
 * Every mp_* reader returns 0 or a negative GIF_E_* code: GIF_E_MALFORMED (wrong type, bytes
 * missing, wrong arity), GIF_E_NONCANONICAL (a longer form than needed), GIF_E_TOOBIG (over the
 * caller's cap), GIF_E_INVALID (a value outside its domain). On failure the cursor position is
 * unspecified: callers stop at the first error.
 */
#ifndef GIF_PROTOCOL_MP_H
#define GIF_PROTOCOL_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/record.h"

struct mp_rd {
    const uint8_t *p;
    const uint8_t *end;
};

/* Bytes not yet read. */
static inline size_t mp_left(const struct mp_rd *r)
{
    return (size_t)(r->end - r->p);
}

/* Reads an unsigned integer in its shortest form; a value above max is GIF_E_INVALID. */
int mp_uint(struct mp_rd *r, uint64_t *v, uint64_t max);
/* mp_uint into a uint8_t. */
int mp_u8(struct mp_rd *r, uint8_t *v, uint8_t max);

/*
 * Reads an array header with exactly `want` elements (want >= 0; another count is
 * GIF_E_MALFORMED) or, when want < 0, at most `max` elements (more is GIF_E_TOOBIG). Every
 * element takes at least one byte, so a count beyond the bytes left is GIF_E_MALFORMED before
 * anything trusts it.
 */
int mp_array(struct mp_rd *r, size_t *n, long want, size_t max);

/* Reads a str (is_str) or bin header and its bytes, at most max long; *p points into the
 * buffer. */
int mp_raw(struct mp_rd *r, bool is_str, const uint8_t **p, size_t *n, size_t max);

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF, no NUL. */
bool mp_utf8_valid(const uint8_t *s, size_t n);

/* A str of at most max bytes, valid UTF-8 without NUL (else GIF_E_INVALID). */
int mp_str(struct mp_rd *r, struct proto_str *s, size_t max);
/* A bin of at most max bytes. */
int mp_bin(struct mp_rd *r, struct proto_bytes *b, size_t max);
/* A bin of exactly `want` bytes, copied to out; another length is GIF_E_INVALID. */
int mp_bin_fixed(struct mp_rd *r, uint8_t *out, size_t want);
/* A boolean (c2 or c3). */
int mp_bool(struct mp_rd *r, bool *v);

/* Returns early with the code of the first failing call. */
#define MP_TRY(x)                                                                                  \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_) return rc_;                                                                       \
    } while (0)

#endif
