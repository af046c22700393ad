#include "gif.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct {
    int code;
    const char *name;
    const char *text;
} errs[] = {
    {GIF_E_MALFORMED, "malformed", "malformed encoding"},
    {GIF_E_NONCANONICAL, "non_canonical", "non-canonical encoding"},
    {GIF_E_VERSION, "unknown_version", "unknown version"},
    {GIF_E_TOOBIG, "too_big", "length, count or depth over its cap"},
    {GIF_E_BADSIG, "bad_signature", "signature does not verify"},
    {GIF_E_NOTMEMBER, "not_member", "origin is not a current member"},
    {GIF_E_ROLE, "role", "origin's role may not publish this"},
    {GIF_E_REVOKED, "revoked", "origin's membership is revoked"},
    {GIF_E_PREV, "bad_prev", "prev does not match the origin's previous record"},
    {GIF_E_EQUIVOCATION, "equivocation", "origin equivocated (two records at one seq)"},
    {GIF_E_FROZEN, "frozen", "origin is frozen after an equivocation"},
    {GIF_E_DUPLICATE, "duplicate", "record already stored"},
    {GIF_E_PENDING, "held", "record is past a gap and held aside"},
    {GIF_E_TARGET, "bad_target", "target record unknown or not allowed"},
    {GIF_E_SCHEMA, "schema", "store schema is newer than this build"},
    {GIF_E_FUTURE, "future", "record time too far in the future"},
    {GIF_E_ROOT, "not_root", "not signed by the consortium root"},
    {GIF_E_INVALID, "invalid", "invalid value"},
    {GIF_E_FULL, "storage_full", "storage is full"},
    {GIF_E_HELDFULL, "held_full", "too many records held aside for this origin"},
};

const char *gif_strerror(int err)
{
    if (err == 0) return "success";
    for (size_t i = 0; i < GIF_ARRAY_LEN(errs); i++)
        if (errs[i].code == err) return errs[i].text;
    if (err < 0 && err > -1000) return strerror(-err);
    return "unknown error";
}

const char *gif_errname(int err)
{
    if (err == 0) return "ok";
    for (size_t i = 0; i < GIF_ARRAY_LEN(errs); i++)
        if (errs[i].code == err) return errs[i].name;
    switch (err) {
    case -ENOENT:
        return "not_found";
    case -ENOMEM:
        return "no_memory";
    case -ENOSPC:
        return "storage_full";
    case -EIO:
        return "io_error";
    case -EINVAL:
        return "invalid";
    default:
        return "error";
    }
}

void gif_hex(char *out, const uint8_t *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int gif_unhex(uint8_t *out, size_t n, const char *s, size_t slen)
{
    if (slen != 2 * n) return GIF_E_INVALID;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return GIF_E_INVALID;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

uint64_t gif_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t gif_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The one piece of process-wide state: the log threshold, set once at start-up. */
static enum gif_log_level log_level = GIF_LOG_INFO;

void gif_log_set_level(enum gif_log_level lvl)
{
    log_level = lvl;
}

int gif_log_parse_level(const char *s, enum gif_log_level *out)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum gif_log_level)i;
            return 0;
        }
    return GIF_E_INVALID;
}

void gif_log(enum gif_log_level lvl, const char *group, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info ", "warn ", "error"};
    if (lvl < log_level) return;
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, names[lvl], group);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line) vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}

void gif_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int gif_grow(void *arrp, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : (first ? first : 1);
    while (nc < need) {
        if (nc > SIZE_MAX / 2) return -ENOMEM;
        nc *= 2;
    }
    if (size == 0 || nc > SIZE_MAX / size) return -ENOMEM;
    void *old;
    memcpy(&old, arrp, sizeof old);
    void *p = realloc(old, nc * size);
    if (!p) return -ENOMEM;
    memcpy(arrp, &p, sizeof p);
    *cap = nc;
    return 0;
}

const char *gif_list_next(const char **s, size_t *n)
{
    const char *p = *s;
    while (*p == ' ' || *p == '\t' || *p == ',')
        p++;
    if (!*p) {
        *s = p;
        return NULL;
    }
    const char *end = p;
    while (*end && *end != ',' && *end != ' ' && *end != '\t')
        end++;
    *n = (size_t)(end - p);
    *s = end;
    return p;
}
