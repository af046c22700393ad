/* gifctl hash: the exact-match signals of files (md5 and sha256 of their bytes). */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "cli/ctl.h"
#include "util/gif.h"

const char ctl_hash_help[] =
    "Usage: gifctl hash FILE...\n"
    "\n"
    "Compute the md5 and sha256 signals of each file's bytes, as a node would publish or look\n"
    "them up ('-' reads standard input). Text output is one 'FILE  TYPE  VALUE' line per\n"
    "signal; --json prints [{\"file\": ..., \"signals\": [{\"type\": \"md5\", \"value\": ...}, "
    "...]}].\n"
    "(PDQ for images comes in a later version.)\n"
    "\n"
    "Example:\n"
    "  gifctl hash upload.mp4\n"
    "  gifctl lookup md5 \"$(gifctl hash upload.mp4 | awk '$2 == \"md5\" {print $3}')\"\n";

/* Hashes one stream with both digests in one read pass. Returns 0 or -errno. */
static int hash_stream(FILE *f, char md5[33], char sha[65])
{
    EVP_MD_CTX *m = EVP_MD_CTX_new(), *s = EVP_MD_CTX_new();
    int rc = 0;
    if (!m || !s || !EVP_DigestInit_ex(m, EVP_md5(), NULL) ||
        !EVP_DigestInit_ex(s, EVP_sha256(), NULL)) {
        rc = -ENOMEM;
        goto out;
    }
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        EVP_DigestUpdate(m, buf, n);
        EVP_DigestUpdate(s, buf, n);
    }
    if (ferror(f)) {
        rc = -EIO;
        goto out;
    }
    unsigned char dm[EVP_MAX_MD_SIZE], ds[EVP_MAX_MD_SIZE];
    unsigned lm = 0, ls = 0;
    EVP_DigestFinal_ex(m, dm, &lm);
    EVP_DigestFinal_ex(s, ds, &ls);
    gif_hex(md5, dm, 16);
    gif_hex(sha, ds, 32);
out:
    EVP_MD_CTX_free(m);
    EVP_MD_CTX_free(s);
    return rc;
}

int ctl_hash(struct ctl_ctx *c, int argc, char **argv)
{
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    const char *val;
    int r = ctl_args_next(&a, NULL, &val);
    if (r < 0) return ctl_args_stop(c, r);
    if (a.npos == 0) return ctl_usage(c, "hash: give at least one FILE");
    int ec = CTL_OK;
    json_t *all = c->json ? json_array() : NULL;
    for (int i = 0; i < a.npos; i++) {
        const char *name = argv[i];
        bool is_stdin = strcmp(name, "-") == 0;
        FILE *f = is_stdin ? stdin : fopen(name, "rb");
        if (!f) {
            ctl_err("%s: %s", name, strerror(errno));
            ec = CTL_USAGE;
            continue;
        }
        char md5[33], sha[65];
        int rc = hash_stream(f, md5, sha);
        if (!is_stdin) fclose(f);
        if (rc != 0) {
            ctl_err("%s: %s", name, rc == -EIO ? "read failed" : gif_strerror(rc));
            ec = CTL_USAGE;
            continue;
        }
        if (all) {
            json_array_append_new(all, json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "file", name,
                                                 "signals", "type", "md5", "value", md5, "type",
                                                 "sha256", "value", sha));
        } else {
            printf("%s  md5     %s\n", name, md5);
            printf("%s  sha256  %s\n", name, sha);
        }
    }
    if (all) {
        ctl_print_json(all);
        json_decref(all);
    }
    return ec;
}
