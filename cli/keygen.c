/* gifctl keygen: an Ed25519 key pair in the key-file format of protocol/keyfile.h. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cli/ctl.h"
#include "protocol/keyfile.h"
#include "util/gif.h"

const char ctl_keygen_help[] =
    "Usage: gifctl keygen PREFIX\n"
    "\n"
    "Create an Ed25519 key pair: PREFIX.key holds the secret key (128 hex digits, mode 0600)\n"
    "and PREFIX.pub the public key (64 hex digits). Prints the public key. Refuses to\n"
    "overwrite existing files. ('gifctl node init' and 'gifctl consortium init' make their\n"
    "own keys; use keygen for a key you admit with 'gifctl member add --key-file'.)\n"
    "\n"
    "Options:\n"
    "  --out PREFIX   same as the positional PREFIX\n"
    "\n"
    "Example:\n"
    "  gifctl keygen /etc/gifd/node     # writes /etc/gifd/node.key and /etc/gifd/node.pub\n";

int ctl_keygen(struct ctl_ctx *c, int argc, char **argv)
{
    enum { O_OUT = 1 };
    static const struct ctl_optdef defs[] = {{"out", true, O_OUT}, {NULL, false, 0}};
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    const char *prefix = NULL, *val;
    int r;
    while ((r = ctl_args_next(&a, defs, &val)) > 0)
        if (r == O_OUT) prefix = val;
    if (r < 0) return ctl_args_stop(c, r);
    if (a.npos > 1 || (a.npos == 1 && prefix))
        return ctl_usage(c, "keygen: one PREFIX only (got '%s')", argv[a.npos - 1]);
    if (a.npos == 1) prefix = argv[0];
    if (!prefix || !prefix[0]) return ctl_usage(c, "keygen: PREFIX is required");

    char skpath[4096], pkpath[4096];
    if ((size_t)snprintf(skpath, sizeof skpath, "%s.key", prefix) >= sizeof skpath ||
        (size_t)snprintf(pkpath, sizeof pkpath, "%s.pub", prefix) >= sizeof pkpath)
        return ctl_usage(c, "keygen: '%s' is too long a path", prefix);

    uint8_t *sk = sodium_malloc(PROTO_SK_LEN);
    if (!sk) {
        ctl_err("out of memory");
        return CTL_UNREACHABLE;
    }
    uint8_t pk[PROTO_KEY_LEN];
    proto_keygen(pk, sk);
    int ec = CTL_OK;
    int rc = proto_keyfile_write_sk(skpath, sk);
    sodium_memzero(sk, PROTO_SK_LEN);
    sodium_free(sk);
    if (rc != 0) {
        ctl_err("%s: %s%s", skpath, gif_strerror(rc),
                rc == -EEXIST ? " (refusing to overwrite a key)" : "");
        return CTL_USAGE;
    }
    rc = proto_keyfile_write_pk(pkpath, pk);
    if (rc != 0) {
        ctl_err("%s: %s", pkpath, gif_strerror(rc));
        return CTL_USAGE;
    }
    char hex[2 * PROTO_KEY_LEN + 1];
    gif_hex(hex, pk, PROTO_KEY_LEN);
    if (c->json) {
        json_t *j = json_pack("{s:s, s:s, s:s}", "public_key", hex, "secret_file", skpath,
                              "public_file", pkpath);
        ctl_print_json(j);
        json_decref(j);
    } else {
        printf("%s\n", hex);
        fprintf(stderr, "wrote %s (secret, mode 0600) and %s\n", skpath, pkpath);
    }
    return ec;
}
