/* Output helpers and small shared readers. */
#include <stdlib.h>
#include <string.h>

#include "cli/ctl.h"
#include "util/gif.h"

void ctl_print_json(const json_t *j)
{
    json_dumpf(j, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
}

const char *ctl_short(char *out, const char *hex)
{
    if (!hex || !hex[0]) return "-";
    snprintf(out, CTL_SHORT_ID + 1, "%s", hex);
    return out;
}

const char *ctl_jstr(const json_t *obj, const char *key, const char *dflt)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

json_int_t ctl_jint(const json_t *obj, const char *key, json_int_t dflt)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

const char *ctl_jjoin(char *out, size_t outlen, const json_t *arr, const char *sep)
{
    size_t off = 0;
    size_t i;
    const json_t *v;
    out[0] = '\0';
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v) || off >= outlen) continue;
        off +=
            (size_t)snprintf(out + off, outlen - off, "%s%s", off ? sep : "", json_string_value(v));
    }
    return out;
}

int ctl_urlencode(char *out, size_t outlen, const char *s)
{
    static const char hexd[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9') || strchr("-._~", ch);
        if (o + (plain ? 1 : 3) >= outlen) return -1;
        if (plain) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hexd[ch >> 4];
            out[o++] = hexd[ch & 15];
        }
    }
    out[o] = '\0';
    return 0;
}

long ctl_readline(FILE *f, char **buf, size_t *bufcap, size_t cap)
{
    size_t len = 0;
    bool toolong = false;
    if (!*buf) {
        *bufcap = 4096;
        *buf = malloc(*bufcap);
        if (!*buf) return -2;
    }
    for (;;) {
        if (len + 1 >= *bufcap) {
            size_t ncap = *bufcap * 2 > cap ? cap : *bufcap * 2;
            char *nb = ncap > *bufcap ? realloc(*buf, ncap) : NULL;
            if (nb) {
                *buf = nb;
                *bufcap = ncap;
            } else {
                toolong = true; /* keep reading to skip the rest of the line */
                len = 0;
            }
        }
        if (!fgets(*buf + len, (int)(*bufcap - len), f)) {
            if (len == 0 && !toolong) return -1;
            break;
        }
        len += strlen(*buf + len);
        if (len > 0 && (*buf)[len - 1] == '\n') {
            len--;
            break;
        }
    }
    if (toolong) return -2;
    if (len > 0 && (*buf)[len - 1] == '\r') len--;
    (*buf)[len] = '\0';
    return (long)len;
}

const char *ctl_line_record(const char *line, uint8_t **bytes, size_t *len)
{
    *bytes = NULL;
    *len = 0;
    json_error_t je;
    json_t *j = json_loads(line, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        return "not a JSON object";
    }
    const json_t *rec = json_object_get(j, "record");
    if (!json_is_string(rec)) {
        json_decref(j);
        return "no \"record\" field";
    }
    size_t hl = json_string_length(rec);
    if (hl % 2 != 0 || hl / 2 > PROTO_RECORD_MAX || hl == 0) {
        json_decref(j);
        return "\"record\" is not the hex of a record";
    }
    uint8_t *b = malloc(hl / 2);
    if (!b) {
        json_decref(j);
        return "out of memory";
    }
    if (gif_unhex(b, hl / 2, json_string_value(rec), hl) != 0) {
        free(b);
        json_decref(j);
        return "\"record\" is not hex";
    }
    json_decref(j);
    *bytes = b;
    *len = hl / 2;
    return NULL;
}
