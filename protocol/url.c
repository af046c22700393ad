#include "protocol/url.h"

#include <ctype.h>
#include <sodium.h>
#include <string.h>

#include "util/gif.h"

struct buf {
    char *p;
    size_t len, cap;
    int err;
};

static void put(struct buf *b, char c)
{
    if (b->len + 1 >= b->cap) {
        b->err = GIF_E_TOOBIG;
        return;
    }
    b->p[b->len++] = c;
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int unreserved(int c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Copies s[0..n) with percent-escapes normalised: unreserved characters decoded, the rest
 * written with upper-case hex. Returns 0 or GIF_E_INVALID. */
static int put_escaped(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            put(b, s[i]);
            continue;
        }
        if (i + 2 >= n) return GIF_E_INVALID;
        int hi = hexv(s[i + 1]), lo = hexv(s[i + 2]);
        if (hi < 0 || lo < 0) return GIF_E_INVALID;
        int c = hi << 4 | lo;
        if (unreserved(c)) {
            put(b, (char)c);
        } else {
            put(b, '%');
            put(b, hex[hi]);
            put(b, hex[lo]);
        }
        i += 2;
    }
    return 0;
}

/* Removes "." and ".." segments from the path already written at b->p[start..len). */
static void remove_dots(struct buf *b, size_t start)
{
    char *p = b->p + start;
    size_t n = b->len - start, o = 0, i = 0;
    while (i < n) {
        size_t j = i + 1;
        while (j < n && p[j] != '/')
            j++;
        size_t seglen = j - i - 1;
        const char *seg = p + i + 1;
        if (seglen == 1 && seg[0] == '.') {
            if (j == n) p[o++] = '/';
        } else if (seglen == 2 && seg[0] == '.' && seg[1] == '.') {
            /* Drop the last segment written: back to (and over) its leading '/'. */
            while (o > 0 && p[o - 1] != '/')
                o--;
            if (o > 0) o--;
            if (j == n) p[o++] = '/';
        } else {
            memmove(p + o, p + i, j - i);
            o += j - i;
        }
        i = j;
    }
    if (o == 0) p[o++] = '/';
    b->len = start + o;
}

int proto_url_normalise(const char *url, size_t n, char *out, size_t outlen)
{
    while (n && isspace((unsigned char)url[0]))
        url++, n--;
    while (n && isspace((unsigned char)url[n - 1]))
        n--;
    if (n == 0) return GIF_E_INVALID;
    if (n > PROTO_URL_MAX) return GIF_E_TOOBIG;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] < 0x21 || url[i] == 0x7f) return GIF_E_INVALID;

    struct buf b = {out, 0, outlen, 0};
    const char *p = url, *end = url + n;
    /* Scheme: http and https are dropped (one resource either way); others are kept. */
    const char *colon = memchr(p, ':', n);
    if (colon && colon + 2 < end && colon[1] == '/' && colon[2] == '/' && colon > p) {
        bool ok = isalpha((unsigned char)p[0]);
        for (const char *q = p; q < colon; q++)
            if (!isalnum((unsigned char)*q) && *q != '+' && *q != '-' && *q != '.') ok = false;
        if (ok) {
            size_t sl = (size_t)(colon - p);
            bool web = (sl == 4 && strncasecmp(p, "http", 4) == 0) ||
                       (sl == 5 && strncasecmp(p, "https", 5) == 0);
            if (!web) {
                for (const char *q = p; q < colon; q++)
                    put(&b, (char)tolower((unsigned char)*q));
                put(&b, ':'), put(&b, '/'), put(&b, '/');
            }
            p = colon + 3;
        }
    } else if (n >= 2 && p[0] == '/' && p[1] == '/') {
        p += 2;
    }
    /* Authority. */
    const char *a_end = p;
    while (a_end < end && *a_end != '/' && *a_end != '?' && *a_end != '#')
        a_end++;
    const char *host = p;
    for (const char *q = p; q < a_end; q++)
        if (*q == '@') host = q + 1; /* credentials never belong in a signal */
    const char *port = NULL;
    const char *h_end = a_end;
    if (host < a_end && *host == '[') {
        const char *rb = host;
        while (rb < a_end && *rb != ']')
            rb++;
        if (rb == a_end) return GIF_E_INVALID;
        h_end = rb + 1;
        if (h_end < a_end && *h_end == ':') port = h_end + 1;
    } else {
        for (const char *c = host; c < a_end; c++)
            if (*c == ':') {
                h_end = c, port = c + 1;
                break;
            }
    }
    while (h_end > host && h_end[-1] == '.')
        h_end--;
    if (h_end - host >= 4 && strncasecmp(host, "www.", 4) == 0) host += 4;
    if (h_end <= host) return GIF_E_INVALID;
    for (const char *q = host; q < h_end; q++)
        put(&b, (char)tolower((unsigned char)*q));
    if (port) {
        size_t pl = (size_t)(a_end - port);
        for (size_t i = 0; i < pl; i++)
            if (!isdigit((unsigned char)port[i])) return GIF_E_INVALID;
        bool dflt = pl == 0 || (pl == 2 && strncmp(port, "80", 2) == 0) ||
                    (pl == 3 && strncmp(port, "443", 3) == 0);
        if (!dflt) {
            put(&b, ':');
            for (size_t i = 0; i < pl; i++)
                put(&b, port[i]);
        }
    }
    /* Path, then query; the fragment never reaches the server, so it is dropped. */
    p = a_end;
    const char *path_end = p;
    while (path_end < end && *path_end != '?' && *path_end != '#')
        path_end++;
    size_t path_start = b.len;
    put(&b, '/');
    if (p < path_end && *p == '/') p++;
    if (put_escaped(&b, p, (size_t)(path_end - p))) return GIF_E_INVALID;
    if (b.err) return b.err;
    remove_dots(&b, path_start);
    p = path_end;
    if (p < end && *p == '?') {
        const char *q_end = memchr(p, '#', (size_t)(end - p));
        if (!q_end) q_end = end;
        if (q_end - p > 1) {
            put(&b, '?');
            if (put_escaped(&b, p + 1, (size_t)(q_end - p - 1))) return GIF_E_INVALID;
        }
    }
    if (b.err) return b.err;
    out[b.len] = '\0';
    return (int)b.len;
}

int proto_url_hash(const char *url, size_t n, uint8_t hash[static 32])
{
    char norm[PROTO_URL_MAX + 64];
    int len = proto_url_normalise(url, n, norm, sizeof norm);
    if (len < 0) return len;
    crypto_hash_sha256(hash, (const uint8_t *)norm, (size_t)len);
    return 0;
}
