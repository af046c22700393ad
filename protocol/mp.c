/*
 * Strict canonical msgpack reader (see mp.h). Shared by records and peer messages so that
 * both refuse exactly the same encodings.
 */
#include "protocol/mp.h"

#include <string.h>

#include "util/gif.h"

static int rd_need(const struct mp_rd *r, size_t n)
{
    return mp_left(r) >= n ? 0 : GIF_E_MALFORMED;
}

static uint64_t be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Reads an unsigned integer in its shortest form; values above max are GIF_E_INVALID. */
int mp_uint(struct mp_rd *r, uint64_t *v, uint64_t max)
{
    if (rd_need(r, 1)) return GIF_E_MALFORMED;
    uint8_t t = *r->p++;
    size_t n;
    uint64_t min;
    if (t <= 0x7f) {
        *v = t;
        return *v <= max ? 0 : GIF_E_INVALID;
    }
    switch (t) {
    case 0xcc:
        n = 1, min = 0x80;
        break;
    case 0xcd:
        n = 2, min = 0x100;
        break;
    case 0xce:
        n = 4, min = 0x10000;
        break;
    case 0xcf:
        n = 8, min = 0x100000000ull;
        break;
    default:
        return GIF_E_MALFORMED;
    }
    if (rd_need(r, n)) return GIF_E_MALFORMED;
    *v = be(r->p, n);
    r->p += n;
    if (*v < min) return GIF_E_NONCANONICAL;
    return *v <= max ? 0 : GIF_E_INVALID;
}

int mp_u8(struct mp_rd *r, uint8_t *v, uint8_t max)
{
    uint64_t x;
    int rc = mp_uint(r, &x, max);
    if (rc == 0) *v = (uint8_t)x;
    return rc;
}

/*
 * Reads an array header with exactly `want` elements (want >= 0) or, when want < 0, at most
 * `max` elements. Every element takes at least one byte, so a count beyond the bytes left is
 * malformed before anything trusts it.
 */
int mp_array(struct mp_rd *r, size_t *n, long want, size_t max)
{
    if (rd_need(r, 1)) return GIF_E_MALFORMED;
    uint8_t t = *r->p++;
    uint64_t len;
    if (t >= 0x90 && t <= 0x9f) {
        len = t & 0x0f;
    } else if (t == 0xdc || t == 0xdd) {
        size_t w = t == 0xdc ? 2 : 4;
        if (rd_need(r, w)) return GIF_E_MALFORMED;
        len = be(r->p, w);
        r->p += w;
        if (len < (t == 0xdc ? 16u : 0x10000u)) return GIF_E_NONCANONICAL;
    } else {
        return GIF_E_MALFORMED;
    }
    if (len > mp_left(r)) return GIF_E_MALFORMED;
    if (want >= 0 && len != (uint64_t)want) return GIF_E_MALFORMED;
    if (want < 0 && len > max) return GIF_E_TOOBIG;
    *n = (size_t)len;
    return 0;
}

/* Reads a str (is_str) or bin header and its bytes, at most max long. */
int mp_raw(struct mp_rd *r, bool is_str, const uint8_t **p, size_t *n, size_t max)
{
    if (rd_need(r, 1)) return GIF_E_MALFORMED;
    uint8_t t = *r->p++;
    uint64_t len, min;
    size_t w;
    if (is_str && t >= 0xa0 && t <= 0xbf) {
        len = t & 0x1f, w = 0, min = 0;
    } else if (is_str && (t == 0xd9 || t == 0xda || t == 0xdb)) {
        w = t == 0xd9 ? 1 : t == 0xda ? 2 : 4;
        min = t == 0xd9 ? 32 : t == 0xda ? 0x100 : 0x10000;
    } else if (!is_str && (t == 0xc4 || t == 0xc5 || t == 0xc6)) {
        w = t == 0xc4 ? 1 : t == 0xc5 ? 2 : 4;
        min = t == 0xc4 ? 0 : t == 0xc5 ? 0x100 : 0x10000;
    } else {
        return GIF_E_MALFORMED;
    }
    if (w) {
        if (rd_need(r, w)) return GIF_E_MALFORMED;
        len = be(r->p, w);
        r->p += w;
        if (len < min) return GIF_E_NONCANONICAL;
    }
    if (len > mp_left(r)) return GIF_E_MALFORMED;
    if (len > max) return GIF_E_TOOBIG;
    *p = r->p;
    *n = (size_t)len;
    r->p += len;
    return 0;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF, no NUL. */
bool mp_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c == 0) return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0)
            k = 1, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
            k = 2, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
            k = 3, cp = c & 0x07, min = 0x10000;
        else
            return false;
        if (n - i <= k) return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += k + 1;
    }
    return true;
}

int mp_str(struct mp_rd *r, struct proto_str *s, size_t max)
{
    const uint8_t *p;
    size_t n;
    int rc = mp_raw(r, true, &p, &n, max);
    if (rc) return rc;
    if (!mp_utf8_valid(p, n)) return GIF_E_INVALID;
    s->p = (const char *)p;
    s->n = n;
    return 0;
}

int mp_bin(struct mp_rd *r, struct proto_bytes *b, size_t max)
{
    return mp_raw(r, false, &b->p, &b->n, max);
}

int mp_bin_fixed(struct mp_rd *r, uint8_t *out, size_t want)
{
    struct proto_bytes b;
    int rc = mp_bin(r, &b, want);
    if (rc == GIF_E_TOOBIG) return GIF_E_INVALID;
    if (rc) return rc;
    if (b.n != want) return GIF_E_INVALID;
    memcpy(out, b.p, want);
    return 0;
}

int mp_bool(struct mp_rd *r, bool *v)
{
    if (rd_need(r, 1)) return GIF_E_MALFORMED;
    uint8_t t = *r->p++;
    if (t != 0xc2 && t != 0xc3) return GIF_E_MALFORMED;
    *v = t == 0xc3;
    return 0;
}
