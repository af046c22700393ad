/*
 * The consortium's offline work: consortium init, member add, member revoke, node init.
 *
 * A consortium directory holds root.key (0600), root.pub, root.crt (the root's self-signed
 * X.509 CA certificate, for peer TLS), consortium.json (its name) and
 * members.jsonl: the root's own signed log of membership and revocation records, one JSON
 * object per line in seq order. Every change re-reads and checks the whole log, signs the next
 * record with the root key, and replaces the file atomically (temporary file, fsync, rename)
 * under an exclusive lock, so a crash or two secretariat members at once never leave a torn
 * or forked log.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/ctl.h"
#include "node/tls.h"
#include "protocol/keyfile.h"
#include "util/gif.h"

#define MEMBERS_LINE_MAX (4u * 1024 * 1024)
#define PATH_LEN 4096

/* ---- Help texts. */

const char ctl_consortium_init_help[] =
    "Usage: gifctl consortium init --dir DIR [--name NAME]\n"
    "\n"
    "Create a consortium: DIR/root.key (the root secret key, mode 0600: keep it offline),\n"
    "DIR/root.pub, DIR/root.crt (the root's CA certificate for peer TLS, valid 20 years),\n"
    "DIR/consortium.json and an empty DIR/members.jsonl. Every node's config names the root\n"
    "public key; it is all a node needs to verify any record. Refuses a DIR that already\n"
    "holds a consortium.\n"
    "\n"
    "Options:\n"
    "  --dir DIR     directory to create or fill (created with mode 0700)\n"
    "  --name NAME   a name for people, stored in consortium.json\n"
    "\n"
    "Example:\n"
    "  gifctl consortium init --dir ./consortium --name 'Hash sharing consortium'\n";

const char ctl_member_add_help[] =
    "Usage: gifctl member add --consortium DIR (--key HEX | --key-file FILE) --org NAME\n"
    "                         --role agency|platform|observer [--not-before TIME]\n"
    "                         [--not-after TIME] [--addr HOST:PORT]... [--cert-out FILE]\n"
    "\n"
    "Admit a node key: sign a membership record with the consortium's root key and append it\n"
    "to DIR/members.jsonl. Prints the record id. Give the updated members.jsonl to every node\n"
    "(or import it: gifctl import DIR/members.jsonl).\n"
    "\n"
    "Options:\n"
    "  --consortium DIR   the consortium directory (root.key, members.jsonl)\n"
    "  --key HEX          the node's public key, 64 hex digits\n"
    "  --key-file FILE    or a public key file (node.pub)\n"
    "  --org NAME         the member organisation\n"
    "  --role ROLE        agency, platform or observer\n"
    "  --not-before TIME  start of membership (default: now); RFC 3339 or ms since the epoch\n"
    "  --not-after TIME   end of membership (default: none)\n"
    "  --addr HOST:PORT   an address the member's peers listen on (repeatable, up to 8)\n"
    "  --cert-out FILE    also write the node's TLS certificate, issued by the root for the\n"
    "                     membership period (5 years if open-ended), to FILE (the node's\n"
    "                     node.crt; give it DIR/root.crt as root.crt too)\n"
    "\n"
    "Example:\n"
    "  gifctl member add --consortium ./consortium --key-file platform-b/node.pub \\\n"
    "      --org 'Platform B' --role platform --addr 10.0.0.12:7481\n";

const char ctl_member_revoke_help[] =
    "Usage: gifctl member revoke --consortium DIR --key HEX [--reason TEXT]\n"
    "\n"
    "Remove a node key from the consortium: sign a revocation record with the root key and\n"
    "append it to DIR/members.jsonl. Prints the record id. Nodes reject the key's records\n"
    "from then on. Refuses a key that is not a member or is already revoked.\n"
    "\n"
    "Options:\n"
    "  --consortium DIR   the consortium directory\n"
    "  --key HEX          the member's public key (or --key-file FILE)\n"
    "  --reason TEXT      why, kept in the record\n"
    "\n"
    "Example:\n"
    "  gifctl member revoke --consortium ./consortium --key 3b6a27bc... --reason 'key lost'\n";

const char ctl_node_init_help[] =
    "Usage: gifctl node init --consortium DIR --dir DATA --org NAME --role ROLE\n"
    "                        [--api HOST:PORT] [--peer HOST:PORT] [--addr HOST:PORT]...\n"
    "                        [--seed HOST:PORT]... [--not-after TIME]\n"
    "\n"
    "Set up a node in one step: create DATA (mode 0700) with a new key pair (node.key,\n"
    "node.pub), admit the key to the consortium (as 'gifctl member add'), write the node's\n"
    "TLS certificate DATA/node.crt (issued by the root for the membership period) and copy\n"
    "DIR/root.crt and the updated members.jsonl into DATA, and write DATA/gifd.ini (mode 0600: it "
    "holds the API token)\n"
    "with the consortium's root key, a random API token and the default policy spelled out.\n"
    "Refuses a DATA that already holds node.key.\n"
    "\n"
    "Options:\n"
    "  --consortium DIR   the consortium directory (needs root.key and root.crt)\n"
    "  --dir DATA         the node's data directory\n"
    "  --org NAME         the member organisation\n"
    "  --role ROLE        agency, platform or observer\n"
    "  --api HOST:PORT    where the HTTP API listens (default 127.0.0.1:7480)\n"
    "  --peer HOST:PORT   where peer TLS listens (default 0.0.0.0:7481)\n"
    "  --addr HOST:PORT   an address peers reach this node on, put in the membership\n"
    "                     (repeatable; none by default: other members dial these)\n"
    "  --seed HOST:PORT   a peer to dial, written to [peers] seeds (repeatable)\n"
    "  --not-after TIME   end of membership (default: none)\n"
    "\n"
    "Example:\n"
    "  gifctl node init --consortium ./consortium --dir ./ctu --org CTU --role agency \\\n"
    "      --api 127.0.0.1:7480 --peer 127.0.0.1:7481\n";

/* ---- The members log. */

struct member_state {
    uint8_t key[PROTO_KEY_LEN];
    bool revoked;
};

struct mlog {
    uint64_t last_seq;
    uint8_t last_id[PROTO_ID_LEN];
    struct member_state *members;
    size_t nmembers, cap;
};

static void mlog_free(struct mlog *m)
{
    free(m->members);
    memset(m, 0, sizeof *m);
}

static struct member_state *mlog_find(struct mlog *m, const uint8_t key[PROTO_KEY_LEN])
{
    for (size_t i = 0; i < m->nmembers; i++)
        if (memcmp(m->members[i].key, key, PROTO_KEY_LEN) == 0) return &m->members[i];
    return NULL;
}

/* Reads and checks members.jsonl: each line signed by root, seq 1, 2, 3... with prev chained.
 * A missing file is an empty log. Returns 0, or prints what is wrong and returns CTL_USAGE. */
static int mlog_read(const char *path, const uint8_t root[PROTO_KEY_LEN], struct mlog *m)
{
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return 0;
        ctl_err("%s: %s", path, strerror(errno));
        return CTL_USAGE;
    }
    char *line = NULL;
    size_t cap = 0;
    long len;
    unsigned long lineno = 0;
    int ec = 0;
    while ((len = ctl_readline(f, &line, &cap, MEMBERS_LINE_MAX)) != -1) {
        lineno++;
        if (len == -2) {
            ctl_err("%s:%lu: line too long", path, lineno);
            ec = CTL_USAGE;
            break;
        }
        if (len == 0) continue;
        uint8_t *bytes;
        size_t blen;
        const char *why = ctl_line_record(line, &bytes, &blen);
        struct proto_record r;
        int rc = 0;
        if (!why) {
            rc = proto_decode(&r, bytes, blen);
            if (rc != 0)
                why = gif_strerror(rc);
            else if (memcmp(r.origin, root, PROTO_KEY_LEN) != 0)
                why = "not signed by this consortium's root key";
            else if (proto_verify(&r) != 0)
                why = "bad signature";
            else if (r.kind != PROTO_MEMBERSHIP && r.kind != PROTO_REVOCATION &&
                     r.kind != PROTO_GRANT)
                why = "not a membership, revocation or grant record";
            else if (r.seq != m->last_seq + 1)
                why = "seq out of order (a record is missing or reordered)";
            else if (memcmp(r.prev, m->last_id, PROTO_ID_LEN) != 0)
                why = "prev does not match the previous line's record";
        }
        if (why) {
            ctl_err("%s:%lu: %s; refusing to extend a damaged members log", path, lineno, why);
            free(bytes);
            ec = CTL_USAGE;
            break;
        }
        m->last_seq = r.seq;
        memcpy(m->last_id, r.id, PROTO_ID_LEN);
        if (r.kind == PROTO_GRANT) {
            free(bytes);
            continue;
        }
        const uint8_t *key = r.kind == PROTO_MEMBERSHIP ? r.u.membership.key : r.u.revocation.key;
        struct member_state *ms = mlog_find(m, key);
        if (!ms) {
            if (gif_grow(&m->members, &m->cap, m->nmembers + 1, sizeof *m->members, 16)) {
                free(bytes);
                ctl_err("out of memory");
                ec = CTL_USAGE;
                break;
            }
            ms = &m->members[m->nmembers++];
            memcpy(ms->key, key, PROTO_KEY_LEN);
            ms->revoked = false;
        }
        if (r.kind == PROTO_REVOCATION) ms->revoked = true;
        free(bytes);
    }
    free(line);
    fclose(f);
    if (ec) mlog_free(m);
    return ec;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

/* Replaces path with its old content plus one line, atomically. */
static int append_line(const char *dir, const char *path, const char *text)
{
    char tmp[PATH_LEN + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "w");
    if (!out) return -errno;
    FILE *in = fopen(path, "r");
    int rc = 0;
    if (in) {
        char buf[65536];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, in)) > 0)
            if (fwrite(buf, 1, n, out) != n) rc = -EIO;
        if (ferror(in)) rc = -EIO;
        fclose(in);
    } else if (errno != ENOENT) {
        rc = -errno;
    }
    if (rc == 0 && (fputs(text, out) == EOF || fputc('\n', out) == EOF)) rc = -EIO;
    if (fflush(out) != 0 || fsync(fileno(out)) != 0) rc = rc ? rc : -EIO;
    if (fclose(out) != 0) rc = rc ? rc : -EIO;
    if (rc == 0 && rename(tmp, path) != 0) rc = -errno;
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    return fsync_dir(dir);
}

static void join(char *out, const char *dir, const char *name)
{
    snprintf(out, PATH_LEN, "%s/%s", dir, name);
}

/* Writes text to path (mode), replacing it, and flushes it to disk. */
static int write_text(const char *path, const char *text, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return -errno;
    int rc = write(fd, text, len) == (ssize_t)len ? 0 : -EIO;
    if (fsync(fd) != 0 && rc == 0) rc = -errno;
    close(fd);
    return rc;
}

/* Reads a certificate file (at most TLS_PEM_MAX bytes) into a malloc'd string. */
static int read_pem(const char *path, char **out)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) return -errno;
    char *buf = malloc(TLS_PEM_MAX + 1);
    size_t n = buf ? fread(buf, 1, TLS_PEM_MAX + 1, f) : 0;
    int rc = !buf ? -ENOMEM : ferror(f) ? -EIO : n > TLS_PEM_MAX ? GIF_E_TOOBIG : 0;
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}

/* Reads DIR/root.key into sodium_malloc'd memory (caller sodium_free's it). */
static int read_root(const char *dir, uint8_t **sk_out)
{
    char path[PATH_LEN], err[512];
    join(path, dir, "root.key");
    uint8_t *sk = sodium_malloc(PROTO_SK_LEN);
    if (!sk) {
        ctl_err("out of memory");
        return CTL_USAGE;
    }
    int rc = proto_keyfile_read_sk(path, sk, err, sizeof err);
    if (rc != 0) {
        sodium_free(sk);
        if (rc == -ENOENT)
            ctl_err("--consortium: '%s' holds no root.key (run 'gifctl consortium init')", dir);
        else
            ctl_err("%s", err);
        return CTL_USAGE;
    }
    *sk_out = sk;
    return 0;
}

/*
 * The one way the log grows: locks DIR, re-reads and checks members.jsonl, fills in the
 * draft's chain fields (origin, seq, prev, time), lets check() refuse (e.g. revoking a
 * non-member), signs with the root key and appends. On success writes the new record's id
 * (hex) into id_hex. Returns an exit code after printing any failure.
 */
typedef int (*mlog_check_fn)(struct mlog *m, const struct proto_record *draft);

static int members_append(const char *dir, struct proto_record *draft, mlog_check_fn check,
                          char id_hex[2 * PROTO_ID_LEN + 1])
{
    char path[PATH_LEN], lockpath[PATH_LEN];
    join(path, dir, "members.jsonl");
    join(lockpath, dir, ".lock");
    uint8_t *sk = NULL;
    int ec = read_root(dir, &sk);
    if (ec) return ec;
    int lfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lfd < 0 || flock(lfd, LOCK_EX) != 0) {
        ctl_err("%s: %s", lockpath, strerror(errno));
        if (lfd >= 0) close(lfd);
        sodium_free(sk);
        return CTL_USAGE;
    }
    struct mlog m;
    uint8_t *bytes = NULL;
    size_t blen = 0;
    char *line = NULL;
    json_t *j = NULL;
    ec = mlog_read(path, sk + 32, &m);
    if (ec) goto out;
    draft->version = PROTO_VERSION;
    memcpy(draft->origin, sk + 32, PROTO_KEY_LEN);
    draft->seq = m.last_seq + 1;
    memcpy(draft->prev, m.last_id, PROTO_ID_LEN);
    draft->time_ms = gif_now_ms();
    if (check && (ec = check(&m, draft)) != 0) goto out_m;
    int rc = proto_sign(draft, sk, &bytes, &blen);
    if (rc != 0) {
        ctl_err("cannot sign the record: %s", gif_strerror(rc));
        ec = CTL_USAGE;
        goto out_m;
    }
    uint8_t id[PROTO_ID_LEN];
    proto_record_id(id, bytes, blen);
    gif_hex(id_hex, id, PROTO_ID_LEN);
    char *rhex = malloc(2 * blen + 1);
    if (!rhex) {
        ec = CTL_USAGE;
        goto out_m;
    }
    gif_hex(rhex, bytes, blen);
    char key_hex[2 * PROTO_KEY_LEN + 1], when[40];
    gif_time_fmt(when, sizeof when, draft->time_ms);
    if (draft->kind == PROTO_MEMBERSHIP) {
        const struct proto_membership *mb = &draft->u.membership;
        gif_hex(key_hex, mb->key, PROTO_KEY_LEN);
        j = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s%, s:s, s:s}", "id", id_hex, "kind",
                      "membership", "seq", (json_int_t)draft->seq, "time", when, "key", key_hex,
                      "org", mb->org.p, mb->org.n, "role", proto_role_name(mb->role), "record",
                      rhex);
    } else {
        const struct proto_revocation *rv = &draft->u.revocation;
        gif_hex(key_hex, rv->key, PROTO_KEY_LEN);
        j = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s%, s:s}", "id", id_hex, "kind", "revocation",
                      "seq", (json_int_t)draft->seq, "time", when, "key", key_hex, "reason",
                      rv->reason.p ? rv->reason.p : "", rv->reason.n, "record", rhex);
    }
    free(rhex);
    line = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (!line) {
        ctl_err("out of memory");
        ec = CTL_USAGE;
        goto out_m;
    }
    rc = append_line(dir, path, line);
    if (rc != 0) {
        ctl_err("%s: %s", path, gif_strerror(rc));
        ec = CTL_USAGE;
    }
out_m:
    mlog_free(&m);
out:
    free(line);
    json_decref(j);
    free(bytes);
    flock(lfd, LOCK_UN);
    close(lfd);
    sodium_memzero(sk, PROTO_SK_LEN);
    sodium_free(sk);
    return ec;
}

/*
 * Issues the TLS certificate of membership mb (key, org, period) with the root key and
 * root.crt of consortium dir. Done before the membership is appended, so that a consortium
 * without root.crt refuses before the log changes. On success *pem is malloc'd (caller
 * frees). Returns an exit code after printing any failure.
 */
static int issue_node_cert(const char *dir, const struct proto_membership *mb, char **pem,
                           size_t *pemlen)
{
    *pem = NULL;
    char path[PATH_LEN], err[512];
    join(path, dir, "root.crt");
    char *root_pem;
    int rc = read_pem(path, &root_pem);
    if (rc != 0) {
        if (rc == -ENOENT)
            ctl_err("--consortium: '%s' holds no root.crt (the root's TLS certificate, "
                    "written by 'gifctl consortium init' since peer TLS exists)",
                    dir);
        else
            ctl_err("%s: %s", path, gif_strerror(rc));
        return CTL_USAGE;
    }
    uint8_t *sk = NULL;
    int ec = read_root(dir, &sk);
    if (ec) {
        free(root_pem);
        return ec;
    }
    char org[PROTO_NAME_MAX + 1];
    snprintf(org, sizeof org, "%.*s", (int)mb->org.n, mb->org.p);
    rc = tls_node_cert(sk, root_pem, mb->key, org, mb->not_before_ms, mb->not_after_ms, pem, pemlen,
                       err, sizeof err);
    sodium_memzero(sk, PROTO_SK_LEN);
    sodium_free(sk);
    free(root_pem);
    if (rc != 0) {
        ctl_err("%s: %s", path, err);
        return CTL_USAGE;
    }
    return 0;
}

/* Checks "host:port" well enough to catch typos; gifd validates it again at start. */
static int check_hostport(const char *opt, const char *s)
{
    const char *colon = strrchr(s, ':');
    const char *port = colon ? colon + 1 : "";
    char *end;
    long p = strtol(port, &end, 10);
    bool ok = colon && colon != s && *port && *end == '\0' && p > 0 && p <= 65535 &&
              strlen(s) <= PROTO_ADDR_MAX && !strpbrk(s, " \t\r\n");
    if (s[0] == '[' && ok) ok = colon > s && colon[-1] == ']';
    if (!ok) {
        ctl_err("%s: '%s' is not HOST:PORT (e.g. 10.0.0.12:7481 or [::1]:7481)", opt, s);
        return CTL_USAGE;
    }
    return 0;
}

static int check_dir(const char *opt, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        ctl_err("%s: '%s' is not a directory", opt, dir);
        return CTL_USAGE;
    }
    return 0;
}

static int set_str(struct proto_str *s, const char *opt, const char *v, size_t max)
{
    size_t n = strlen(v);
    if (n > max) {
        ctl_err("%s: '%s' is longer than %zu bytes", opt, v, max);
        return CTL_USAGE;
    }
    s->p = v;
    s->n = n;
    return 0;
}

/* ---- consortium init */

int ctl_consortium_init(struct ctl_ctx *c, int argc, char **argv)
{
    enum { O_DIR = 1, O_NAME };
    static const struct ctl_optdef defs[] = {
        {"dir", true, O_DIR}, {"name", true, O_NAME}, {NULL, false, 0}};
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    const char *dir = NULL, *name = "", *val;
    int r;
    while ((r = ctl_args_next(&a, defs, &val)) > 0) {
        if (r == O_DIR) dir = val;
        if (r == O_NAME) name = val;
    }
    if (r < 0) return ctl_args_stop(c, r);
    if (a.npos > 0) return ctl_usage(c, "consortium init: unexpected argument '%s'", argv[0]);
    if (!dir || !dir[0]) return ctl_usage(c, "consortium init: --dir is required");
    if (strlen(dir) > PATH_LEN - 64) return ctl_usage(c, "--dir: '%s' is too long", dir);

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        ctl_err("--dir: cannot create '%s': %s", dir, strerror(errno));
        return CTL_USAGE;
    }
    if (check_dir("--dir", dir)) return CTL_USAGE;
    static const char *const files[] = {"root.key", "root.pub", "root.crt", "members.jsonl",
                                        "consortium.json"};
    for (size_t i = 0; i < GIF_ARRAY_LEN(files); i++) {
        char p[PATH_LEN];
        join(p, dir, files[i]);
        if (access(p, F_OK) == 0) {
            ctl_err("--dir: '%s' already holds a consortium (%s exists); refusing to overwrite",
                    dir, files[i]);
            return CTL_USAGE;
        }
    }

    char skp[PATH_LEN], pkp[PATH_LEN], crtp[PATH_LEN], mp[PATH_LEN], cp[PATH_LEN];
    join(crtp, dir, "root.crt");
    join(skp, dir, "root.key");
    join(pkp, dir, "root.pub");
    join(mp, dir, "members.jsonl");
    join(cp, dir, "consortium.json");
    uint8_t *sk = sodium_malloc(PROTO_SK_LEN);
    if (!sk) return CTL_USAGE;
    uint8_t pk[PROTO_KEY_LEN];
    proto_keygen(pk, sk);
    char *crt = NULL, why[512];
    size_t crtlen = 0;
    int rc = tls_root_cert(sk, name, gif_now_ms(), &crt, &crtlen, why, sizeof why);
    if (rc != 0) {
        sodium_memzero(sk, PROTO_SK_LEN);
        sodium_free(sk);
        ctl_err("--name: %s", why);
        return CTL_USAGE;
    }
    rc = proto_keyfile_write_sk(skp, sk);
    sodium_memzero(sk, PROTO_SK_LEN);
    sodium_free(sk);
    const char *failed = skp;
    if (rc == 0) {
        failed = pkp;
        rc = proto_keyfile_write_pk(pkp, pk);
    }
    if (rc == 0) {
        failed = crtp;
        rc = write_text(crtp, crt, crtlen, 0644);
    }
    free(crt);
    if (rc != 0) {
        ctl_err("%s: %s", failed, gif_strerror(rc));
        return CTL_USAGE;
    }
    char hex[2 * PROTO_KEY_LEN + 1], when[40];
    gif_hex(hex, pk, PROTO_KEY_LEN);
    gif_time_fmt(when, sizeof when, gif_now_ms());
    json_t *info = json_pack("{s:s, s:s, s:s}", "name", name, "root_key", hex, "created", when);
    int fd = open(mp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) close(fd);
    if (fd < 0 || json_dump_file(info, cp, JSON_INDENT(2)) != 0) {
        ctl_err("cannot write %s: %s", fd < 0 ? mp : cp, strerror(errno));
        json_decref(info);
        return CTL_USAGE;
    }
    fsync_dir(dir);
    if (c->json) {
        json_object_set_new(info, "dir", json_string(dir));
        ctl_print_json(info);
    } else {
        printf("consortium created in %s\n", dir);
        printf("root key    %s\n", hex);
        printf("secret      %s (keep it offline; it admits and removes members)\n", skp);
        printf("certificate %s (the CA of the consortium's peer TLS)\n", crtp);
        printf("next        gifctl node init --consortium %s --dir DATA --org NAME --role ROLE\n",
               dir);
    }
    json_decref(info);
    return CTL_OK;
}

/* ---- member add */

struct member_opts {
    const char *consortium;
    const char *key_hex, *key_file;
    const char *org, *role;
    const char *not_before, *not_after;
    const char *addrs[PROTO_ADDRS_MAX];
    size_t naddrs;
    const char *cert_out;
};

/* Fills a membership draft from options; key must already be set. */
static int membership_draft(const struct member_opts *o, struct proto_record *d)
{
    memset(d, 0, sizeof *d);
    d->kind = PROTO_MEMBERSHIP;
    struct proto_membership *mb = &d->u.membership;
    if (!o->org || !o->org[0]) {
        ctl_err("--org is required");
        return CTL_USAGE;
    }
    if (set_str(&mb->org, "--org", o->org, PROTO_NAME_MAX)) return CTL_USAGE;
    if (!o->role) {
        ctl_err("--role is required (agency, platform or observer)");
        return CTL_USAGE;
    }
    if (ctl_parse_role("--role", o->role, &mb->role)) return CTL_USAGE;
    mb->not_before_ms = gif_now_ms();
    if (o->not_before && ctl_parse_time("--not-before", o->not_before, &mb->not_before_ms))
        return CTL_USAGE;
    if (o->not_after && ctl_parse_time("--not-after", o->not_after, &mb->not_after_ms))
        return CTL_USAGE;
    if (mb->not_after_ms && mb->not_after_ms <= mb->not_before_ms) {
        ctl_err("--not-after: '%s' is not after the start of membership", o->not_after);
        return CTL_USAGE;
    }
    for (size_t i = 0; i < o->naddrs; i++) {
        if (check_hostport("--addr", o->addrs[i])) return CTL_USAGE;
        mb->addrs[i].p = o->addrs[i];
        mb->addrs[i].n = strlen(o->addrs[i]);
    }
    mb->naddrs = o->naddrs;
    return 0;
}

static int read_key_opt(const struct member_opts *o, uint8_t key[PROTO_KEY_LEN])
{
    if (o->key_hex && o->key_file) {
        ctl_err("--key and --key-file: give one of them");
        return CTL_USAGE;
    }
    if (o->key_hex) return ctl_parse_hex("--key", o->key_hex, key, PROTO_KEY_LEN);
    if (o->key_file) {
        char err[512];
        if (proto_keyfile_read_pk(o->key_file, key, err, sizeof err) != 0) {
            ctl_err("--key-file: %s", err);
            return CTL_USAGE;
        }
        return 0;
    }
    ctl_err("--key HEX or --key-file FILE is required");
    return CTL_USAGE;
}

static int print_added(struct ctl_ctx *c, const char *what, const char *id_hex,
                       const struct proto_record *d)
{
    if (c->json) {
        json_t *j =
            json_pack("{s:s, s:s, s:I}", "id", id_hex, "kind", what, "seq", (json_int_t)d->seq);
        ctl_print_json(j);
        json_decref(j);
    } else {
        printf("%s\n", id_hex);
    }
    return CTL_OK;
}

static int add_check(struct mlog *m, const struct proto_record *d)
{
    struct member_state *ms = mlog_find(m, d->u.membership.key);
    if (ms && ms->revoked) {
        char hex[2 * PROTO_KEY_LEN + 1];
        gif_hex(hex, d->u.membership.key, PROTO_KEY_LEN);
        ctl_err("--key: '%s' was revoked; a revoked key stays revoked (make a new key)", hex);
        return CTL_USAGE;
    }
    return 0;
}

int ctl_member_add(struct ctl_ctx *c, int argc, char **argv)
{
    enum { O_CONS = 1, O_KEY, O_KEYFILE, O_ORG, O_ROLE, O_NB, O_NA, O_ADDR, O_CERT };
    static const struct ctl_optdef defs[] = {
        {"consortium", true, O_CONS},  {"key", true, O_KEY},
        {"key-file", true, O_KEYFILE}, {"org", true, O_ORG},
        {"role", true, O_ROLE},        {"not-before", true, O_NB},
        {"not-after", true, O_NA},     {"addr", true, O_ADDR},
        {"cert-out", true, O_CERT},    {NULL, false, 0}};
    struct member_opts o = {0};
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    const char *val;
    int r;
    while ((r = ctl_args_next(&a, defs, &val)) > 0) {
        switch (r) {
        case O_CONS:
            o.consortium = val;
            break;
        case O_KEY:
            o.key_hex = val;
            break;
        case O_KEYFILE:
            o.key_file = val;
            break;
        case O_ORG:
            o.org = val;
            break;
        case O_ROLE:
            o.role = val;
            break;
        case O_NB:
            o.not_before = val;
            break;
        case O_NA:
            o.not_after = val;
            break;
        case O_ADDR:
            if (o.naddrs == PROTO_ADDRS_MAX)
                return ctl_usage(c, "--addr: at most %d addresses ('%s' is one too many)",
                                 PROTO_ADDRS_MAX, val);
            o.addrs[o.naddrs++] = val;
            break;
        case O_CERT:
            if (!val[0]) return ctl_usage(c, "--cert-out: give a file name");
            o.cert_out = val;
            break;
        }
    }
    if (r < 0) return ctl_args_stop(c, r);
    if (a.npos > 0) return ctl_usage(c, "member add: unexpected argument '%s'", argv[0]);
    if (!o.consortium) return ctl_usage(c, "member add: --consortium DIR is required");
    if (check_dir("--consortium", o.consortium)) return CTL_USAGE;
    struct proto_record d;
    if (membership_draft(&o, &d)) return CTL_USAGE;
    if (read_key_opt(&o, d.u.membership.key)) return CTL_USAGE;
    char *crt = NULL;
    size_t crtlen = 0;
    int ec;
    if (o.cert_out && (ec = issue_node_cert(o.consortium, &d.u.membership, &crt, &crtlen)) != 0)
        return ec;
    /* A file that cannot be written is found before the log changes. */
    if (crt) {
        int fd = open(o.cert_out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            ctl_err("--cert-out: cannot create '%s': %s", o.cert_out, strerror(errno));
            free(crt);
            return CTL_USAGE;
        }
        close(fd);
    }
    char id_hex[2 * PROTO_ID_LEN + 1];
    ec = members_append(o.consortium, &d, add_check, id_hex);
    if (ec && crt) unlink(o.cert_out);
    if (ec == 0 && crt) {
        int rc = write_text(o.cert_out, crt, crtlen, 0644);
        if (rc != 0) {
            ctl_err("--cert-out: %s: %s (the membership %s was added; issue the certificate "
                    "again with a new member add of the same key)",
                    o.cert_out, gif_strerror(rc), id_hex);
            ec = CTL_USAGE;
        }
    }
    free(crt);
    if (ec) return ec;
    return print_added(c, "membership", id_hex, &d);
}

/* ---- member revoke */

static int revoke_check(struct mlog *m, const struct proto_record *d)
{
    struct member_state *ms = mlog_find(m, d->u.revocation.key);
    char hex[2 * PROTO_KEY_LEN + 1];
    gif_hex(hex, d->u.revocation.key, PROTO_KEY_LEN);
    if (!ms) {
        ctl_err("--key: '%s' is not a member of this consortium", hex);
        return CTL_USAGE;
    }
    if (ms->revoked) {
        ctl_err("--key: '%s' is already revoked", hex);
        return CTL_USAGE;
    }
    return 0;
}

int ctl_member_revoke(struct ctl_ctx *c, int argc, char **argv)
{
    enum { O_CONS = 1, O_KEY, O_KEYFILE, O_REASON };
    static const struct ctl_optdef defs[] = {{"consortium", true, O_CONS},
                                             {"key", true, O_KEY},
                                             {"key-file", true, O_KEYFILE},
                                             {"reason", true, O_REASON},
                                             {NULL, false, 0}};
    struct member_opts o = {0};
    const char *reason = "", *val;
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    int r;
    while ((r = ctl_args_next(&a, defs, &val)) > 0) {
        switch (r) {
        case O_CONS:
            o.consortium = val;
            break;
        case O_KEY:
            o.key_hex = val;
            break;
        case O_KEYFILE:
            o.key_file = val;
            break;
        case O_REASON:
            reason = val;
            break;
        }
    }
    if (r < 0) return ctl_args_stop(c, r);
    if (a.npos > 0) return ctl_usage(c, "member revoke: unexpected argument '%s'", argv[0]);
    if (!o.consortium) return ctl_usage(c, "member revoke: --consortium DIR is required");
    if (check_dir("--consortium", o.consortium)) return CTL_USAGE;
    struct proto_record d;
    memset(&d, 0, sizeof d);
    d.kind = PROTO_REVOCATION;
    if (read_key_opt(&o, d.u.revocation.key)) return CTL_USAGE;
    if (set_str(&d.u.revocation.reason, "--reason", reason, PROTO_TEXT_MAX)) return CTL_USAGE;
    char id_hex[2 * PROTO_ID_LEN + 1];
    int ec = members_append(o.consortium, &d, revoke_check, id_hex);
    if (ec) return ec;
    return print_added(c, "revocation", id_hex, &d);
}

const char ctl_member_grant_help[] =
    "Usage: gifctl member grant --consortium DIR --org NAME [--right incidents] [--withdraw]\n"
    "\n"
    "Grant an organisation a right, or withdraw it: sign a grant record with the root key and\n"
    "append it to DIR/members.jsonl (publish it to a node with 'gifctl import\n"
    "DIR/members.jsonl'). The one right today is 'incidents': publishing incident records\n"
    "(escalate, deescalate, conclude, reopen), which agencies may do without a grant. The\n"
    "latest grant record for an organisation and right is the one in force.\n"
    "\n"
    "Options:\n"
    "  --consortium DIR   the consortium directory\n"
    "  --org NAME         the organisation, as in its membership records\n"
    "  --right RIGHT      incidents (the default)\n"
    "  --withdraw         withdraw the right instead of granting it\n"
    "\n"
    "Example:\n"
    "  gifctl member grant --consortium ./consortium --org 'Platform B' --right incidents\n";

int ctl_member_grant(struct ctl_ctx *c, int argc, char **argv)
{
    enum { O_CONS = 1, O_ORG, O_RIGHT, O_WITHDRAW };
    static const struct ctl_optdef defs[] = {{"consortium", true, O_CONS},
                                             {"org", true, O_ORG},
                                             {"right", true, O_RIGHT},
                                             {"withdraw", false, O_WITHDRAW},
                                             {NULL, false, 0}};
    const char *cons = NULL, *org = NULL, *right = "incidents", *val;
    bool withdraw = false;
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    int r;
    while ((r = ctl_args_next(&a, defs, &val)) > 0) {
        if (r == O_CONS) cons = val;
        if (r == O_ORG) org = val;
        if (r == O_RIGHT) right = val;
        if (r == O_WITHDRAW) withdraw = true;
    }
    if (r < 0) return ctl_args_stop(c, r);
    if (a.npos > 0) return ctl_usage(c, "member grant: unexpected argument '%s'", argv[0]);
    if (!cons || !org) return ctl_usage(c, "member grant: --consortium DIR and --org NAME are required");
    if (check_dir("--consortium", cons)) return CTL_USAGE;
    struct proto_record d;
    memset(&d, 0, sizeof d);
    d.kind = PROTO_GRANT;
    if (!org[0]) return ctl_usage(c, "--org: must not be empty");
    if (set_str(&d.u.grant.org, "--org", org, PROTO_NAME_MAX)) return CTL_USAGE;
    if (proto_right_parse(right, &d.u.grant.right))
        return ctl_usage(c, "--right: '%s' is not a right (incidents)", right);
    d.u.grant.granted = !withdraw;
    char id_hex[2 * PROTO_ID_LEN + 1];
    int ec = members_append(cons, &d, NULL, id_hex);
    if (ec) return ec;
    return print_added(c, "grant", id_hex, &d);
}

/* ---- node init */

static int copy_file(const char *from, const char *to, mode_t mode)
{
    FILE *in = fopen(from, "r");
    if (!in) return -errno;
    int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        int e = -errno;
        fclose(in);
        return e;
    }
    char buf[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (write(fd, buf, n) != (ssize_t)n) rc = -EIO;
    if (ferror(in)) rc = -EIO;
    if (fsync(fd) != 0 && rc == 0) rc = -EIO;
    close(fd);
    fclose(in);
    return rc;
}

int ctl_node_init(struct ctl_ctx *c, int argc, char **argv)
{
    enum { O_CONS = 1, O_DIR, O_ORG, O_ROLE, O_API, O_PEER, O_ADDR, O_NA, O_SEED };
    static const struct ctl_optdef defs[] = {
        {"consortium", true, O_CONS}, {"dir", true, O_DIR},
        {"org", true, O_ORG},         {"role", true, O_ROLE},
        {"api", true, O_API},         {"peer", true, O_PEER},
        {"addr", true, O_ADDR},       {"not-after", true, O_NA},
        {"seed", true, O_SEED},       {NULL, false, 0}};
    struct member_opts o = {0};
    char seeds[2048] = "";
    size_t seedlen = 0;
    const char *data = NULL, *api = "127.0.0.1:7480", *peer = "0.0.0.0:7481", *val;
    struct ctl_args a;
    ctl_args_init(&a, c, argc, argv);
    int r;
    /* --api here is the node's listen address, not gifctl's global --api URL: the verb's own
     * table is searched first. */
    while ((r = ctl_args_next(&a, defs, &val)) > 0) {
        switch (r) {
        case O_CONS:
            o.consortium = val;
            break;
        case O_DIR:
            data = val;
            break;
        case O_ORG:
            o.org = val;
            break;
        case O_ROLE:
            o.role = val;
            break;
        case O_API:
            api = val;
            break;
        case O_PEER:
            peer = val;
            break;
        case O_NA:
            o.not_after = val;
            break;
        case O_SEED:
            if (check_hostport("--seed", val)) return CTL_USAGE;
            if (seedlen + strlen(val) + 3 > sizeof seeds)
                return ctl_usage(c, "--seed: too many seeds ('%s')", val);
            seedlen += (size_t)snprintf(seeds + seedlen, sizeof seeds - seedlen, "%s%s",
                                        seedlen ? ", " : "", val);
            break;
        case O_ADDR:
            if (o.naddrs == PROTO_ADDRS_MAX)
                return ctl_usage(c, "--addr: at most %d addresses ('%s' is one too many)",
                                 PROTO_ADDRS_MAX, val);
            o.addrs[o.naddrs++] = val;
            break;
        }
    }
    if (r < 0) return ctl_args_stop(c, r);
    if (a.npos > 0) return ctl_usage(c, "node init: unexpected argument '%s'", argv[0]);
    if (!o.consortium) return ctl_usage(c, "node init: --consortium DIR is required");
    if (!data || !data[0]) return ctl_usage(c, "node init: --dir DATA is required");
    if (strlen(data) > PATH_LEN - 64) return ctl_usage(c, "--dir: '%s' is too long", data);
    if (check_dir("--consortium", o.consortium)) return CTL_USAGE;
    if (check_hostport("--api", api) || check_hostport("--peer", peer)) return CTL_USAGE;
    /* Advertised addresses are explicit (--addr): other members dial them, so a listen
     * address (a loopback, a DMZ-internal one) is never published by accident. */
    struct proto_record d;
    if (membership_draft(&o, &d)) return CTL_USAGE;

    char keyp[PATH_LEN], pubp[PATH_LEN], memp[PATH_LEN], inip[PATH_LEN], srcm[PATH_LEN],
        rootp[PATH_LEN], crtp[PATH_LEN], srcca[PATH_LEN], dstca[PATH_LEN], err[512];
    join(crtp, data, "node.crt");
    join(srcca, o.consortium, "root.crt");
    join(dstca, data, "root.crt");
    join(keyp, data, "node.key");
    join(pubp, data, "node.pub");
    join(memp, data, "members.jsonl");
    join(inip, data, "gifd.ini");
    join(srcm, o.consortium, "members.jsonl");
    join(rootp, o.consortium, "root.pub");
    if (access(keyp, F_OK) == 0) {
        ctl_err("--dir: '%s' already holds node.key; refusing to replace a node's identity", data);
        return CTL_USAGE;
    }
    uint8_t root[PROTO_KEY_LEN];
    if (proto_keyfile_read_pk(rootp, root, err, sizeof err) != 0) {
        ctl_err("--consortium: %s", err);
        return CTL_USAGE;
    }
    if (access(srcca, R_OK) != 0) {
        ctl_err("--consortium: cannot read '%s': %s", srcca, strerror(errno));
        return CTL_USAGE;
    }
    if (mkdir(data, 0700) != 0 && errno != EEXIST) {
        ctl_err("--dir: cannot create '%s': %s", data, strerror(errno));
        return CTL_USAGE;
    }
    if (check_dir("--dir", data)) return CTL_USAGE;

    uint8_t *sk = sodium_malloc(PROTO_SK_LEN);
    if (!sk) return CTL_USAGE;
    proto_keygen(d.u.membership.key, sk);
    int rc = proto_keyfile_write_sk(keyp, sk);
    sodium_memzero(sk, PROTO_SK_LEN);
    sodium_free(sk);
    if (rc != 0) {
        ctl_err("%s: %s", keyp, gif_strerror(rc));
        return CTL_USAGE;
    }
    rc = proto_keyfile_write_pk(pubp, d.u.membership.key);
    if (rc != 0) {
        ctl_err("%s: %s", pubp, gif_strerror(rc));
        return CTL_USAGE;
    }
    char *crt = NULL;
    size_t crtlen = 0;
    int ec = issue_node_cert(o.consortium, &d.u.membership, &crt, &crtlen);
    char id_hex[2 * PROTO_ID_LEN + 1];
    if (ec == 0) ec = members_append(o.consortium, &d, add_check, id_hex);
    if (ec) {
        free(crt);
        ctl_err("node key left in %s; admit it later with 'gifctl member add --key-file %s "
                "--cert-out %s'",
                keyp, pubp, crtp);
        return ec;
    }
    rc = write_text(crtp, crt, crtlen, 0644);
    free(crt);
    if (rc != 0) {
        ctl_err("%s: %s", crtp, gif_strerror(rc));
        return CTL_USAGE;
    }
    const char *from = srcm, *to = memp;
    rc = copy_file(srcm, memp, 0644);
    if (rc == 0) {
        from = srcca;
        to = dstca;
        rc = copy_file(srcca, dstca, 0644);
    }
    if (rc != 0) {
        ctl_err("cannot copy %s to %s: %s", from, to, gif_strerror(rc));
        return CTL_USAGE;
    }

    uint8_t tok[16];
    randombytes_buf(tok, sizeof tok);
    char token[2 * sizeof tok + 1], roothex[2 * PROTO_KEY_LEN + 1], keyhex[2 * PROTO_KEY_LEN + 1];
    gif_hex(token, tok, sizeof tok);
    sodium_memzero(tok, sizeof tok);
    gif_hex(roothex, root, PROTO_KEY_LEN);
    gif_hex(keyhex, d.u.membership.key, PROTO_KEY_LEN);
    int fd = open(inip, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        ctl_err("cannot create %s: %s", inip, strerror(errno));
        if (fd >= 0) close(fd);
        return CTL_USAGE;
    }
    fprintf(f,
            "# gifd configuration, written by gifctl node init for %s (%s).\n"
            "# Every key is described in docs/operations.md. Paths are relative to this file.\n"
            "\n"
            "[node]\n"
            "data_dir = .\n"
            "log_level = info\n"
            "\n"
            "[consortium]\n"
            "root_key = %s\n"
            "members_file = members.jsonl\n"
            "\n"
            "[api]\n"
            "listen = %s\n"
            "# Bearer token for writes (gifctl --token / GIFCTL_TOKEN). Keep this file 0600.\n"
            "token = %s\n"
            "\n"
            "[peers]\n"
            "listen = %s\n"
            "cert = node.crt\n"
            "ca = root.crt\n"
            "%s%s%s"
            "\n"
            "[storage]\n"
            "sync = true\n"
            "\n"
            "# The default policy, spelled out (see docs/policy.md).\n"
            "[policy]\n"
            "block_roles = agency\n"
            "block_verified = true\n"
            "block_min_agree = 2\n"
            "review_min_disputes = 2\n"
            "block_max_distance = 31\n"
            "default = review\n",
            o.org, o.role, roothex, api, token, peer, seedlen ? "seeds = " : "", seeds,
            seedlen ? "\n" : "");
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) != 0 || !ok) {
        ctl_err("cannot write %s", inip);
        return CTL_USAGE;
    }
    fsync_dir(data);

    if (c->json) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "dir", data, "key", keyhex,
                              "membership", id_hex, "config", inip, "cert", crtp, "api", api,
                              "token", token);
        ctl_print_json(j);
        json_decref(j);
    } else {
        printf("node %s created in %s\n", keyhex, data);
        printf("membership %s added to %s\n", id_hex, srcm);
        printf("certificate %s (TLS, issued by the consortium root)\n", crtp);
        printf("\nNext steps:\n");
        printf("  gifd --config %s\n", inip);
        printf("  export GIFCTL_API=http://%s GIFCTL_TOKEN=%s\n", api, token);
        printf("  gifctl status\n");
        printf("Other nodes learn of this member from the updated %s:\n"
               "  gifctl --api http://OTHER-NODE import %s\n",
               srcm, srcm);
    }
    sodium_memzero(token, sizeof token);
    return CTL_OK;
}
