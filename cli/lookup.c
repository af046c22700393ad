/* gifctl lookup and match: ask the node about hashes. Exit 1 when nothing matched, so that
 * scripts can branch on the answer without parsing it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "cli/ctl.h"
#include "node/api_input.h"
#include "util/gif.h"

const char ctl_lookup_help[] =
    "Usage: gifctl lookup TYPE VALUE\n"
    "\n"
    "Exact lookup of one hash on the node (GET /v1/lookup). TYPE is md5, sha256, pdq (exact\n"
    "256-bit equality; use 'gifctl match' for near matches) or url (the URL itself, or the\n"
    "SHA-256 of a normalised URL). Prints the node's verdict (block, review, allow) and each\n"
    "matching record: the policy rule that decided it, origin organisation and role, labels,\n"
    "and whether it was retracted. Exit 0 when something matched, 1 when nothing did.\n"
    "\n"
    "Example:\n"
    "  gifctl lookup md5 9e107d9d372bb6826bd81d3542a419d6\n"
    "  gifctl lookup url 'https://example.com/video/123'\n";

const char ctl_match_help[] =
    "Usage: gifctl match HASH... [--max-distance N]\n"
    "       gifctl match FILE... [--max-distance N] [--dihedral]\n"
    "\n"
    "Near-match PDQ hashes (64 hex digits each) against the node's signals (POST /v1/match):\n"
    "every stored PDQ within Hamming distance N (default 31, 0..256), nearest first. Prints\n"
    "each hash's verdict and matches. Exit 0 when any hash matched, 1 when none did.\n"
    "\n"
    "Given files (an argument that names an existing file, or '-' for standard input), sends\n"
    "each image or video to the node (POST /v1/match/media), which hashes it and answers for\n"
    "its md5, sha256, and pdq (images) or vpdq (videos, matched by frame overlap). The media\n"
    "kind is guessed from the bytes. --json prints [{\"file\": ..., <the API's answer>}].\n"
    "\n"
    "Options:\n"
    "  --max-distance N   largest Hamming distance that counts as a match (default 31; for a\n"
    "                     video, between two frames)\n"
    "  --dihedral         for image files: also match the image rotated and flipped (its 8\n"
    "                     dihedral variants; each match names the transform that found it)\n"
    "\n"
    "Example:\n"
    "  gifctl match f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22 \\\n"
    "      --max-distance 20\n"
    "  gifctl match upload.mp4\n";

/* One match object, one line: "  a1b2c3d4e5f6  block   role      CTU (agency)  labels". */
static void print_match(const json_t *m)
{
    char sk[CTL_SHORT_ID + 1], labels[512];
    ctl_jjoin(labels, sizeof labels, json_object_get(m, "labels"), ",");
    const json_t *dist = json_object_get(m, "distance");
    char d[48] = "";
    if (json_is_integer(dist)) snprintf(d, sizeof d, "d=%lld", (long long)json_integer_value(dist));
    const char *tf = ctl_jstr(m, "transform", NULL); /* a dihedral match: which variant */
    if (tf && strcmp(tf, "original") != 0)
        snprintf(d + strlen(d), sizeof d - strlen(d), "%s%s", d[0] ? " " : "", tf);
    char org[160];
    snprintf(org, sizeof org, "%s (%s)", ctl_jstr(m, "org", "?"), ctl_jstr(m, "role", "?"));
    printf("  %-*s  %-6s  %-14s  %-5s  %-28s  %-30s  %s%s\n", CTL_SHORT_ID,
           ctl_short(sk, ctl_jstr(m, "id", NULL)), ctl_jstr(m, "verdict", "-"),
           ctl_jstr(m, "rule", "-"), d, org, labels[0] ? labels : "-", ctl_jstr(m, "time", ""),
           json_is_true(json_object_get(m, "retracted")) ? "  RETRACTED" : "");
    const json_t *fb = json_object_get(m, "feedback");
    if (json_is_object(fb) && (ctl_jint(fb, "agree", 0) || ctl_jint(fb, "disagree", 0) ||
                               ctl_jint(fb, "false_positive", 0) || ctl_jint(fb, "blocked", 0)))
        printf("  %*s  feedback: %lld agree, %lld disagree, %lld false positive, %lld blocked\n",
               CTL_SHORT_ID, "", (long long)ctl_jint(fb, "agree", 0),
               (long long)ctl_jint(fb, "disagree", 0), (long long)ctl_jint(fb, "false_positive", 0),
               (long long)ctl_jint(fb, "blocked", 0));
}

static void print_answer(const char *what, const json_t *ans)
{
    const json_t *ms = json_object_get(ans, "matches");
    size_t n = json_array_size(ms);
    printf("%s: %s (%zu match%s)\n", what, ctl_jstr(ans, "verdict", "-"), n, n == 1 ? "" : "es");
    size_t i;
    const json_t *m;
    json_array_foreach(ms, i, m) print_match(m);
}

int ctl_lookup(struct ctl_ctx *c, int argc, char **argv)
{
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    const char *val;
    int r = ctl_args_next(&a, NULL, &val);
    if (r < 0) return ctl_args_stop(c, r);
    if (a.npos != 2) return ctl_usage(c, "lookup: give TYPE and VALUE (got %d arguments)", a.npos);
    const char *type = argv[0], *value = argv[1];
    uint8_t st;
    if (ctl_parse_stype("TYPE", type, &st)) return CTL_USAGE;
    if (st == PROTO_ST_VPDQ)
        return ctl_usage(c, "TYPE: 'vpdq' has no exact lookup; use md5, sha256, pdq or url");
    if (ctl_check_value("VALUE", st, value)) return CTL_USAGE;
    size_t cap = 3 * strlen(value) + 64;
    char *enc = malloc(cap), *path = malloc(cap + 64);
    if (!enc || !path || ctl_urlencode(enc, cap, value) != 0) {
        free(enc);
        free(path);
        return CTL_USAGE;
    }
    snprintf(path, cap + 64, "/v1/lookup?type=%s&value=%s", proto_stype_name(st), enc);
    free(enc);
    json_t *j;
    int ec = ctl_api(c, "GET", path, NULL, &j);
    free(path);
    if (ec) return ec;
    size_t n = json_array_size(json_object_get(j, "matches"));
    if (c->json) {
        ctl_print_json(j);
    } else {
        char what[600];
        snprintf(what, sizeof what, "%s %s", type, value);
        print_answer(what, j);
    }
    json_decref(j);
    return n ? CTL_OK : CTL_NOTFOUND;
}

/* A match argument is a file when it names one (or is "-"), else a hash. */
static bool is_file_arg(const char *s)
{
    struct stat st;
    return strcmp(s, "-") == 0 || stat(s, &st) == 0;
}

/* POST /v1/match/media for each file; returns the exit code. */
static int match_files(struct ctl_ctx *c, int n, char **files, uint64_t dist, bool dihedral)
{
    json_t *all = c->json ? json_array() : NULL;
    bool any = false;
    int ec = CTL_OK;
    for (int i = 0; i < n; i++) {
        uint8_t *buf;
        size_t len;
        if (ctl_read_file(files[i], &buf, &len)) {
            ec = CTL_USAGE;
            continue;
        }
        enum api_media_kind kind = api_media_probe(buf, len);
        if (kind == API_MEDIA_NONE) {
            free(buf);
            ctl_err("%s: not an image or video format FFmpeg recognises (use 'gifctl hash' and "
                    "'gifctl lookup' for the md5 and sha256 of other files)",
                    files[i]);
            ec = CTL_USAGE;
            continue;
        }
        char path[80];
        snprintf(path, sizeof path, "/v1/match/media?max_distance=%llu%s", (unsigned long long)dist,
                 dihedral ? "&dihedral=1" : "");
        json_t *j;
        int rc = ctl_api_bytes(
            c, path, kind == API_MEDIA_IMAGE ? "image/x-unknown" : "video/x-unknown", buf, len, &j);
        free(buf);
        if (rc) {
            /* Another file may still succeed; the node being unreachable ends it. */
            if (rc == CTL_UNREACHABLE) {
                json_decref(all);
                return rc;
            }
            ec = rc == CTL_NOTFOUND ? CTL_USAGE : rc;
            continue;
        }
        size_t k;
        const json_t *res;
        json_array_foreach(json_object_get(j, "results"), k, res)
        {
            if (json_array_size(json_object_get(res, "matches")) > 0) any = true;
        }
        if (all) {
            json_object_set_new(j, "file", json_string(files[i]));
            json_array_append(all, j);
        } else {
            printf("%s (%s %lldx%lld): %s\n", files[i], ctl_jstr(j, "media", "?"),
                   (long long)ctl_jint(j, "width", 0), (long long)ctl_jint(j, "height", 0),
                   ctl_jstr(j, "verdict", "-"));
            json_array_foreach(json_object_get(j, "results"), k, res)
            {
                char what[160];
                const char *type = ctl_jstr(res, "type", "?");
                if (strcmp(type, "vpdq") == 0)
                    snprintf(what, sizeof what, "  vpdq (%lld frames%s)",
                             (long long)ctl_jint(res, "frames", 0),
                             json_is_true(json_object_get(res, "truncated")) ? ", truncated" : "");
                else if (strcmp(type, "pdq") == 0)
                    snprintf(what, sizeof what, "  pdq %s (quality %lld)",
                             ctl_jstr(res, "value", "?"), (long long)ctl_jint(res, "quality", 0));
                else
                    snprintf(what, sizeof what, "  %s %s", type, ctl_jstr(res, "value", "?"));
                print_answer(what, res);
                const json_t *m;
                size_t mi;
                json_array_foreach(json_object_get(res, "matches"), mi, m)
                {
                    const json_t *qp = json_object_get(m, "query_match_pct");
                    if (json_is_number(qp))
                        printf("  %*s  %.0f%% of the query's frames, %.0f%% of the stored "
                               "video's\n",
                               CTL_SHORT_ID, "", json_number_value(qp),
                               json_number_value(json_object_get(m, "compared_match_pct")));
                }
            }
        }
        json_decref(j);
    }
    if (all) {
        ctl_print_json(all);
        json_decref(all);
    }
    if (ec) return ec;
    return any ? CTL_OK : CTL_NOTFOUND;
}

int ctl_match(struct ctl_ctx *c, int argc, char **argv)
{
    enum { O_DIST = 1, O_DIH };
    static const struct ctl_optdef defs[] = {
        {"max-distance", true, O_DIST}, {"dihedral", false, O_DIH}, {NULL, false, 0}};
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    const char *val;
    uint64_t dist = 31;
    bool dihedral = false;
    int r;
    while ((r = ctl_args_next(&a, defs, &val)) > 0) {
        if (r == O_DIST && ctl_parse_uint("--max-distance", val, 256, &dist)) return CTL_USAGE;
        if (r == O_DIH) dihedral = true;
    }
    if (r < 0) return ctl_args_stop(c, r);
    if (a.npos == 0) return ctl_usage(c, "match: give at least one PDQ hash or file");
    int nfiles = 0;
    for (int i = 0; i < a.npos; i++)
        if (is_file_arg(argv[i])) nfiles++;
    if (nfiles == a.npos) return match_files(c, a.npos, argv, dist, dihedral);
    if (dihedral)
        return ctl_usage(c, "match: --dihedral is for image files (for hashes, send the 8 "
                            "variants from 'gifctl hash --dihedral' to POST /v1/match as a list)");
    if (nfiles > 0) return ctl_usage(c, "match: give either PDQ hashes or files, not both");
    if (a.npos > 1000) return ctl_usage(c, "match: at most 1000 hashes per call");
    json_t *hashes = json_array();
    for (int i = 0; i < a.npos; i++) {
        if (ctl_check_value("HASH", PROTO_ST_PDQ, argv[i])) {
            json_decref(hashes);
            return CTL_USAGE;
        }
        json_array_append_new(hashes, json_string(argv[i]));
    }
    json_t *body = json_pack("{s:s, s:o, s:I}", "type", "pdq", "hashes", hashes, "max_distance",
                             (json_int_t)dist);
    json_t *j;
    int ec = ctl_api(c, "POST", "/v1/match", body, &j);
    json_decref(body);
    if (ec) return ec;
    bool any = false;
    size_t i;
    const json_t *res;
    json_array_foreach(json_object_get(j, "results"), i, res)
    {
        if (json_array_size(json_object_get(res, "matches")) > 0) any = true;
        if (!c->json) {
            char what[128];
            snprintf(what, sizeof what, "pdq %s", ctl_jstr(res, "hash", "?"));
            print_answer(what, res);
        }
    }
    if (c->json) ctl_print_json(j);
    json_decref(j);
    return any ? CTL_OK : CTL_NOTFOUND;
}
