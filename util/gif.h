/*
 * gifnet common definitions: error codes, hex, time, logging.
 *
 * Functions across the project return int: 0 on success, a negative code on failure.
 * Codes in (-1000, 0) are -errno values; GIF_E_* codes below -1000 are the project's own.
 * gif_strerror() describes either kind; gif_errname() gives a short snake_case token for
 * metrics labels and JSON error codes.
 */
#ifndef GIF_UTIL_GIF_H
#define GIF_UTIL_GIF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gif_err {
    GIF_E_MALFORMED = -1001,    /* bytes are not a well-formed record or message */
    GIF_E_NONCANONICAL = -1002, /* well-formed, but not the one canonical encoding */
    GIF_E_VERSION = -1003,      /* unknown protocol or schema version */
    GIF_E_TOOBIG = -1004,       /* a length, count or depth beyond its documented cap */
    GIF_E_BADSIG = -1005,       /* signature does not verify under the origin key */
    GIF_E_NOTMEMBER = -1006,    /* origin is not a member of the consortium (now or at time) */
    GIF_E_ROLE = -1007,         /* origin's role may not publish this (kind, field) */
    GIF_E_REVOKED = -1008,      /* origin's membership was revoked */
    GIF_E_PREV = -1009,         /* prev does not name the origin's record at seq - 1 */
    GIF_E_EQUIVOCATION = -1010, /* a second, different record at the same (origin, seq) */
    GIF_E_FROZEN = -1011,       /* origin is frozen after an equivocation */
    GIF_E_DUPLICATE = -1012,    /* record already stored (not an error for gossip) */
    GIF_E_PENDING = -1013,      /* record is past a gap: held aside until the gap fills */
    GIF_E_TARGET = -1014,       /* retraction/feedback target unknown or not allowed */
    GIF_E_SCHEMA = -1015,       /* store schema is newer than this build */
    GIF_E_FUTURE = -1016,       /* record time too far in the future */
    GIF_E_ROOT = -1017,         /* membership/revocation not signed by the consortium root */
    GIF_E_INVALID = -1018,      /* a field holds a value outside its domain */
    GIF_E_FULL = -1019,         /* storage full (LMDB map or disk), nothing written */
    GIF_E_HELDFULL = -1020,     /* too many records held aside for this origin */
    GIF_E_LAST = -1021
};

/* Returns a static, human-readable description of err (GIF_E_* or -errno). */
const char *gif_strerror(int err);
/* Returns a static snake_case token for err, e.g. "bad_signature", "errno_28". */
const char *gif_errname(int err);

/* Lower-case hex. out must hold 2*n+1 bytes; it is NUL-terminated. */
void gif_hex(char *out, const uint8_t *in, size_t n);
/* Parses exactly 2*n hex digits (either case) from s[0..slen). Returns 0 or GIF_E_INVALID. */
int gif_unhex(uint8_t *out, size_t n, const char *s, size_t slen);

/* Parses a time: RFC 3339 ("2026-11-22T03:30:00.123Z", an offset instead of Z, a space instead
 * of T, or a bare date meaning midnight UTC) or a decimal number of milliseconds since the
 * epoch. A time of day without a zone is refused rather than guessed. Returns 0 or
 * GIF_E_INVALID. */
int gif_time_parse(const char *s, uint64_t *ms);
/* Formats ms as "2026-11-22T03:30:00.123Z" into out (at least 32 bytes). */
void gif_time_fmt(char *out, size_t outlen, uint64_t ms);

/* Writes a formatted one-line reason into err (if err is not NULL and errlen > 0). The
 * project's functions that explain a failure take (char *err, size_t errlen). */
void gif_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Makes room for at least need elements of size bytes in the array *arrp (a pointer to the
 * array's pointer) of capacity *cap, doubling the capacity (from first when it is 0). 0, or
 * -ENOMEM with the array and *cap unchanged. */
int gif_grow(void *arrp, size_t *cap, size_t need, size_t size, size_t first);

/* The next word of a list separated by commas, spaces or tabs ("a, b c"): returns its start,
 * sets *n to its length and moves *s past it; NULL when no word is left. */
const char *gif_list_next(const char **s, size_t *n);

/* Wall clock in milliseconds since the Unix epoch. */
uint64_t gif_now_ms(void);
/* Monotonic clock in nanoseconds. */
uint64_t gif_mono_ns(void);

/* Logging by named group and level, to stderr, one line each:
 *   2026-11-22T03:30:00.123Z info  store: opened /var/lib/gifd (schema 1)
 * Secrets must never be passed to these. */
enum gif_log_level { GIF_LOG_DEBUG = 0, GIF_LOG_INFO, GIF_LOG_WARN, GIF_LOG_ERROR };
void gif_log_set_level(enum gif_log_level lvl);
int gif_log_parse_level(const char *s, enum gif_log_level *out);
void gif_log(enum gif_log_level lvl, const char *group, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define GIF_DEBUG(g, ...) gif_log(GIF_LOG_DEBUG, g, __VA_ARGS__)
#define GIF_INFO(g, ...) gif_log(GIF_LOG_INFO, g, __VA_ARGS__)
#define GIF_WARN(g, ...) gif_log(GIF_LOG_WARN, g, __VA_ARGS__)
#define GIF_ERROR(g, ...) gif_log(GIF_LOG_ERROR, g, __VA_ARGS__)

#define GIF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
