/* Times: RFC 3339 in UTC with milliseconds, the one spelling used in JSON, logs and the CLI. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gif.h"

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return GIF_E_INVALID;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int gif_time_parse(const char *s, uint64_t *ms)
{
    size_t len = strlen(s);
    if (len == 0) return GIF_E_INVALID;
    if (strspn(s, "0123456789") == len) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno != 0) return GIF_E_INVALID;
        *ms = v;
        return 0;
    }
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (len < 10 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d))
        return GIF_E_INVALID;
    const char *p = s + 10;
    long frac_ms = 0;
    long offset_s = 0;
    if (*p != '\0') {
        if (*p != 'T' && *p != 't' && *p != ' ') return GIF_E_INVALID;
        p++;
        if (strlen(p) < 8 || digits(p, 2, &h) || p[2] != ':' || digits(p + 3, 2, &mi) ||
            p[5] != ':' || digits(p + 6, 2, &sec))
            return GIF_E_INVALID;
        p += 8;
        if (*p == '.') {
            p++;
            int nd = 0;
            long scale = 100;
            while (*p >= '0' && *p <= '9') {
                frac_ms += (*p - '0') * scale;
                scale /= 10;
                p++;
                nd++;
            }
            if (nd == 0) return GIF_E_INVALID;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om;
            if (strlen(p) != 6 || digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om))
                return GIF_E_INVALID;
            if (oh > 23 || om > 59) return GIF_E_INVALID;
            offset_s = (oh * 3600L + om * 60L) * (*p == '+' ? 1 : -1);
            p += 6;
        } else {
            return GIF_E_INVALID; /* RFC 3339 needs a zone: refusing beats guessing local time */
        }
        if (*p != '\0') return GIF_E_INVALID;
    }
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return GIF_E_INVALID;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1) return GIF_E_INVALID;
    long long total = (long long)t - offset_s;
    if (total < 0) return GIF_E_INVALID;
    *ms = (uint64_t)total * 1000u + (uint64_t)frac_ms;
    return 0;
}

void gif_time_fmt(char *out, size_t outlen, uint64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}
