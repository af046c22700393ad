/* gifctl hash: every signal of files, computed offline: md5 and sha256 of the bytes, PDQ of an
 * image, vPDQ of a video (media/, through node/api_input.c as the node computes them). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl.h"
#include "media/filehash.h"
#include "node/api_input.h"
#include "node/api_json.h"
#include "util/gif.h"

const char ctl_hash_help[] =
    "Usage: gifctl hash [--squash] [--dihedral] FILE...\n"
    "\n"
    "Compute every signal of each file, as a node would publish or match them, with no node\n"
    "needed ('-' reads standard input): md5 and sha256 of the bytes; for an image (JPEG, PNG,\n"
    "GIF, WebP, BMP, TIFF, ...) its PDQ hash and quality (0-100); for a video its vPDQ (one PDQ\n"
    "a second). The kind is guessed from the bytes. A file that is neither gets md5 and sha256\n"
    "only. Text output is one 'FILE  TYPE  VALUE [quality Q | N frames]' line per signal;\n"
    "--json prints [{\"file\", \"media\", \"width\", \"height\", \"signals\": [{\"type\",\n"
    "\"value\", \"quality\"}]}], with the vpdq frame list as its value.\n"
    "A file that cannot be read, or that looks like an image or video but does not decode, is\n"
    "reported on standard error (and with \"error\" in --json); the others are still hashed\n"
    "and the exit code is 2.\n"
    "--squash hashes images as the reference's pdq-photo-hasher tool does: anything over 512 px\n"
    "is squashed to 512x512 first. Nodes publish and match full-resolution hashes (the\n"
    "reference library's); use it only to compare with that tool's output.\n"
    "--dihedral also prints an image's 8 dihedral variants (the PDQ of the picture rotated\n"
    "and flipped), one 'FILE  dihedral  NAME  HASH' line each (--json: \"dihedral\":\n"
    "[{\"transform\", \"value\", \"quality\"}]); send them as one list to POST /v1/match to\n"
    "find rotated or mirrored copies.\n"
    "\n"
    "Example:\n"
    "  gifctl hash photo.jpg upload.mp4\n"
    "  gifctl lookup md5 \"$(gifctl hash upload.mp4 | awk '$2 == \"md5\" {print $3}')\"\n";

int ctl_read_file(const char *name, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    bool is_stdin = strcmp(name, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(name, "rb");
    if (!f) {
        ctl_err("%s: %s", name, strerror(errno));
        return CTL_USAGE;
    }
    size_t cap = 0, n = 0;
    uint8_t *b = NULL;
    int ec = CTL_OK;
    for (;;) {
        if (n == cap) {
            if (cap >= CTL_FILE_MAX) {
                ctl_err("%s: larger than %zu bytes", name, CTL_FILE_MAX);
                ec = CTL_USAGE;
                break;
            }
            size_t nc = cap ? cap * 2 : 1 << 16;
            if (nc > CTL_FILE_MAX) nc = CTL_FILE_MAX;
            uint8_t *nb = realloc(b, nc);
            if (!nb) {
                ctl_err("%s: out of memory", name);
                ec = CTL_USAGE;
                break;
            }
            b = nb;
            cap = nc;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                ctl_err("%s: read failed", name);
                ec = CTL_USAGE;
            }
            break;
        }
    }
    if (!is_stdin) fclose(f);
    if (ec) {
        free(b);
        return ec;
    }
    *buf = b;
    *len = n;
    return CTL_OK;
}

int ctl_media_hash(const uint8_t *buf, size_t len, const struct api_media_opts *opts,
                   struct api_media *m, char *err, size_t errlen)
{
    err[0] = '\0';
    enum api_media_kind kind = len ? api_media_probe(buf, len) : API_MEDIA_NONE;
    if (kind != API_MEDIA_NONE) {
        int rc = api_media_hash(buf, len, kind, opts, m, err, errlen);
        if (rc == 0) return 1;
    }
    uint8_t md5[16], sha[32];
    memset(m, 0, sizeof *m);
    if (media_md5(buf, len, md5) || media_sha256(buf, len, sha)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(m->md5, md5, sizeof md5);
    memcpy(m->sha256, sha, sizeof sha);
    return kind == API_MEDIA_NONE ? 0 : -1;
}

static const char *kind_name(enum api_media_kind k)
{
    return k == API_MEDIA_IMAGE ? "image" : k == API_MEDIA_VIDEO ? "video" : NULL;
}

int ctl_hash(struct ctl_ctx *c, int argc, char **argv)
{
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    static const struct ctl_optdef defs[] = {
        {"squash", false, 1}, {"dihedral", false, 2}, {NULL, false, 0}};
    struct api_media_opts opts = {0};
    const char *val;
    int r;
    while ((r = ctl_args_next(&a, defs, &val)) > 0) {
        if (r == 1) opts.tool_squash = 1;
        if (r == 2) opts.dihedral = 1;
    }
    if (r < 0) return ctl_args_stop(c, r);
    if (a.npos == 0) return ctl_usage(c, "hash: give at least one FILE");
    int ec = CTL_OK;
    json_t *all = c->json ? json_array() : NULL;
    for (int i = 0; i < a.npos; i++) {
        const char *name = argv[i];
        uint8_t *buf;
        size_t len;
        if (ctl_read_file(name, &buf, &len)) {
            ec = CTL_USAGE;
            continue;
        }
        struct api_media m;
        char err[256];
        int got = ctl_media_hash(buf, len, &opts, &m, err, sizeof err);
        free(buf);
        if (got < 0) {
            ctl_err("%s: %s", name, err);
            ec = CTL_USAGE;
        }
        if (all) {
            json_t *o = json_pack("{s:s,s:o,s:o}", "file", name, "media",
                                  got > 0 ? json_string(kind_name(m.kind)) : json_null(), "signals",
                                  api_media_signals_json(&m, 1));
            if (got > 0) {
                json_object_set_new(o, "width", json_integer(m.width));
                json_object_set_new(o, "height", json_integer(m.height));
            }
            if (got > 0 && m.truncated) json_object_set_new(o, "note", json_string(m.note));
            if (got > 0 && m.has_dih) {
                json_t *d = json_array();
                for (int v = 0; v < MEDIA_DIH_COUNT; v++)
                    json_array_append_new(d, json_pack("{s:s,s:o,s:i}", "transform",
                                                       media_dihedral_name((enum media_dihedral)v),
                                                       "value", api_hex(m.dih[v].hash, 32),
                                                       "quality", m.dih[v].quality));
                json_object_set_new(o, "dihedral", d);
            }
            if (got < 0) json_object_set_new(o, "error", json_string(err));
            json_array_append_new(all, o);
        } else {
            char hex[65];
            gif_hex(hex, m.md5, 16);
            printf("%s  md5     %s\n", name, hex);
            gif_hex(hex, m.sha256, 32);
            printf("%s  sha256  %s\n", name, hex);
            if (got > 0 && m.kind == API_MEDIA_IMAGE) {
                gif_hex(hex, m.pdq.hash, 32);
                printf("%s  pdq     %s  quality %d\n", name, hex, m.pdq.quality);
                for (int v = 0; m.has_dih && v < MEDIA_DIH_COUNT; v++) {
                    gif_hex(hex, m.dih[v].hash, 32);
                    printf("%s  dihedral  %-10s  %s\n", name,
                           media_dihedral_name((enum media_dihedral)v), hex);
                }
            } else if (got > 0) {
                size_t usable = 0;
                for (size_t f = 0; f < m.nframes; f++)
                    if (m.frames[f].quality >= MEDIA_VPDQ_QUALITY) usable++;
                printf("%s  vpdq    %zu frames (%zu at quality >= %d)%s\n", name, m.nframes, usable,
                       MEDIA_VPDQ_QUALITY, m.truncated ? "  TRUNCATED" : "");
                if (m.truncated) ctl_err("%s: only part of the video was hashed: %s", name, m.note);
            }
        }
        api_media_free(&m);
    }
    if (all) {
        ctl_print_json(all);
        json_decref(all);
    }
    return ec;
}
