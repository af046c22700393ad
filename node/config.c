/*
 * gifd's INI configuration, read with inih. docs/operations.md ("Configuration reference")
 * lists every key; keep the two in step.
 *
 * The file is read whole (capped), its lines checked against inih's line length, then parsed
 * from memory by ini_parse_stream with a reader that counts lines, so that an error found by
 * the handler names its own line without inih's INI_HANDLER_LINENO build option.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "node/policy.h"
#include "node/webhook.h"
#include "util/gif.h"

#define CONFIG_FILE_MAX (1024 * 1024)
#define CONFIG_LINE_MAX                                                                            \
    198 /* inih reads lines into 200 bytes (INI_MAX_LINE) with newline and NUL */
#define CONFIG_MAX_BODY_CAP ((uint64_t)1 << 30)
#define CONFIG_MAP_MB_MAX ((uint64_t)16 * 1024 * 1024) /* 16 TiB */

void config_defaults(struct node_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->data_dir, sizeof c->data_dir, ".");
    c->log_level = GIF_LOG_INFO;
    snprintf(c->members_file, sizeof c->members_file, "./members.jsonl");
    snprintf(c->api_host, sizeof c->api_host, "127.0.0.1");
    c->api_port = 7480;
    c->max_body = (size_t)16 * 1024 * 1024;
    snprintf(c->peer_host, sizeof c->peer_host, "0.0.0.0");
    c->peer_port = 7481;
    snprintf(c->peer_cert, sizeof c->peer_cert, "./node.crt");
    snprintf(c->peer_ca, sizeof c->peer_ca, "./root.crt");
    c->map_size = (uint64_t)65536 * 1024 * 1024;
    c->sync = true;
    c->policy.block_role[PROTO_ROLE_AGENCY] = true;
    c->policy.block_verified = true;
    c->policy.block_min_agree = 2;
    c->policy.review_min_disputes = 2;
    c->policy.block_max_distance = 31;
    c->policy.block_incident_level = PROTO_LEVEL_INCIDENT;
    c->policy.dflt = POLICY_REVIEW;
    c->webhook.events = WEBHOOK_EVENTS_ALL;
    c->webhook.timeout_ms = 5000;
    c->webhook.max_attempts = 8;
    c->webhook.queue_max = 10000;
}

int config_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    if (hostlen) host[0] = '\0';
    *port = 0;
    const char *h, *colon;
    size_t hl;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') return GIF_E_INVALID;
        h = s + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
        char tmp[INET6_ADDRSTRLEN + 1];
        struct in6_addr a6;
        if (hl == 0 || hl >= sizeof tmp) return GIF_E_INVALID;
        memcpy(tmp, h, hl);
        tmp[hl] = '\0';
        if (inet_pton(AF_INET6, tmp, &a6) != 1) return GIF_E_INVALID;
    } else {
        colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t)(colon - s))) return GIF_E_INVALID;
        h = s;
        hl = (size_t)(colon - s);
        if (hl == 0) return GIF_E_INVALID;
        for (size_t i = 0; i < hl; i++)
            if (!isalnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '-' && h[i] != '_')
                return GIF_E_INVALID;
    }
    const char *ps = colon + 1;
    size_t pl = strlen(ps);
    if (pl == 0 || pl > 5) return GIF_E_INVALID;
    long v = 0;
    for (size_t i = 0; i < pl; i++) {
        if (!isdigit((unsigned char)ps[i])) return GIF_E_INVALID;
        v = v * 10 + (ps[i] - '0');
    }
    if (v > 65535 || hl >= hostlen) return GIF_E_INVALID;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)v;
    return 0;
}

/* ---- Loading. */

struct loader {
    struct node_config *c;
    const char *path;          /* as given, for messages */
    char dir[CONFIG_PATH_MAX]; /* the config file's directory, for relative paths */
    const char *text;          /* the file, NUL-terminated */
    size_t pos;
    int line; /* lines handed to inih so far */
    bool members_set, cert_set, ca_set;
    bool have_root_key, have_token;
    int err_line; /* first error found by the handler, 0 if none */
    int err_code;
    char err[512];
};

static int fail(struct loader *L, const char *section, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct loader *L, const char *section, const char *key, const char *fmt, ...)
{
    if (L->err_line) return 0; /* the first error is the one reported */
    L->err_line = L->line;
    L->err_code = GIF_E_INVALID;
    int n = snprintf(L->err, sizeof L->err, "%s:%d: [%s] %s: ", L->path, L->line, section, key);
    if (n < 0 || (size_t)n >= sizeof L->err) return 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err + n, sizeof L->err - (size_t)n, fmt, ap);
    va_end(ap);
    return 0;
}

static char *reader(char *str, int num, void *stream)
{
    struct loader *L = stream;
    if (!L->text[L->pos] || num < 2) return NULL;
    size_t n = 0;
    while (L->text[L->pos] && n + 1 < (size_t)num) {
        char ch = L->text[L->pos++];
        str[n++] = ch;
        if (ch == '\n') break;
    }
    str[n] = '\0';
    L->line++;
    return str;
}

static bool parse_bool(const char *v, bool *out)
{
    static const char *const t[] = {"true", "yes", "1", "on"}, *const f[] = {"false", "no", "0",
                                                                             "off"};
    for (size_t i = 0; i < GIF_ARRAY_LEN(t); i++) {
        if (strcasecmp(v, t[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(v, f[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Parses a decimal integer in [lo, hi]. */
static bool parse_u64(const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!*v) return false;
    uint64_t x = 0;
    for (const char *s = v; *s; s++) {
        if (!isdigit((unsigned char)*s)) return false;
        unsigned d = (unsigned)(*s - '0');
        if (x > (UINT64_MAX - d) / 10) return false;
        x = x * 10 + d;
    }
    if (x < lo || x > hi) return false;
    *out = x;
    return true;
}

/* A size in bytes with an optional binary suffix: 16777216, 16384K, 16M, 1G. */
static bool parse_size(const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char num[32];
    size_t n = strlen(v);
    if (n == 0 || n >= sizeof num) return false;
    memcpy(num, v, n + 1);
    uint64_t mul = 1;
    char last = (char)toupper((unsigned char)num[n - 1]);
    if (last == 'K' || last == 'M' || last == 'G') {
        mul = last == 'K' ? 1024 : last == 'M' ? 1024 * 1024 : 1024 * 1024 * 1024;
        num[--n] = '\0';
    }
    uint64_t x;
    if (!parse_u64(num, 0, UINT64_MAX / mul, &x)) return false;
    x *= mul;
    if (x < lo || x > hi) return false;
    *out = x;
    return true;
}

/* Resolves v against the config file's directory into out. */
static bool resolve_path(struct loader *L, const char *v, char *out, size_t outlen)
{
    int n;
    if (v[0] == '/')
        n = snprintf(out, outlen, "%s", v);
    else
        n = snprintf(out, outlen, "%s/%s", L->dir, v);
    return n >= 0 && (size_t)n < outlen;
}

static int set_listen(struct loader *L, const char *section, const char *key, const char *v,
                      char *host, size_t hostlen, int *port)
{
    char h[256];
    int p;
    if (config_parse_hostport(v, h, sizeof h, &p) != 0)
        return fail(L, section, key, "'%s' is not host:port (IPv6 as [::1]:7480)", v);
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, h, &a4) != 1 && inet_pton(AF_INET6, h, &a6) != 1)
        return fail(L, section, key, "'%s' is not an IP address to listen on", v);
    if (strlen(h) >= hostlen) return fail(L, section, key, "'%s' is too long", v);
    snprintf(host, hostlen, "%s", h);
    *port = p;
    return 1;
}

/* Parses and stores the seed list; a second seeds line replaces the first. */
static int parse_seeds(struct loader *L, const char *section, const char *key, const char *v)
{
    struct node_config *c = L->c;
    c->nseeds = 0;
    const char *s = v;
    while (*s) {
        while (*s == ' ' || *s == '\t')
            s++;
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        char item[300], h[256];
        int port;
        if (n == 0 || n >= sizeof item) {
            if (n == 0 && !end) break;
            return fail(L, section, key, "'%.*s' is not host:port", (int)(n > 200 ? 200 : n), s);
        }
        memcpy(item, s, n);
        item[n] = '\0';
        if (config_parse_hostport(item, h, sizeof h, &port) != 0 || port == 0)
            return fail(L, section, key, "'%s' is not host:port", item);
        if (c->nseeds == CONFIG_SEEDS_MAX)
            return fail(L, section, key, "more than %d seeds ('%s' is one too many)",
                        CONFIG_SEEDS_MAX, item);
        snprintf(c->seeds[c->nseeds].host, sizeof c->seeds[c->nseeds].host, "%s", h);
        c->seeds[c->nseeds++].port = port;
        if (!end) break;
        s = end + 1;
    }
    return 1;
}

static int parse_roles(struct loader *L, const char *section, const char *key, const char *v)
{
    bool roles[4] = {false, false, false, false};
    const char *s = v, *w;
    size_t n;
    while ((w = gif_list_next(&s, &n))) {
        if (n == 6 && strncasecmp(w, "agency", 6) == 0)
            roles[PROTO_ROLE_AGENCY] = true;
        else if (n == 8 && strncasecmp(w, "platform", 8) == 0)
            roles[PROTO_ROLE_PLATFORM] = true;
        else if (n == 8 && strncasecmp(w, "observer", 8) == 0)
            roles[PROTO_ROLE_OBSERVER] = true;
        else
            return fail(L, section, key, "'%.*s' is not a role (agency, platform, observer)",
                        (int)(n > 200 ? 200 : n), w);
    }
    memcpy(L->c->policy.block_role, roles, sizeof roles);
    return 1;
}

static int handler(void *user, const char *section, const char *key, const char *v)
{
    struct loader *L = user;
    struct node_config *c = L->c;
    uint64_t u;
    bool b;

#define IS(sec, k) (strcmp(section, sec) == 0 && strcmp(key, k) == 0)
    if (IS("node", "data_dir")) {
        if (!*v) return fail(L, section, key, "must not be empty");
        if (!resolve_path(L, v, c->data_dir, sizeof c->data_dir))
            return fail(L, section, key, "'%s' is too long", v);
    } else if (IS("node", "log_level")) {
        enum gif_log_level lvl;
        if (gif_log_parse_level(v, &lvl) != 0)
            return fail(L, section, key, "'%s' is not one of debug, info, warn, error", v);
        c->log_level = (int)lvl;
    } else if (IS("consortium", "root_key")) {
        if (gif_unhex(c->root_key, PROTO_KEY_LEN, v, strlen(v)) != 0)
            return fail(L, section, key, "'%s' is not %d hex digits", v, 2 * PROTO_KEY_LEN);
        L->have_root_key = true;
    } else if (IS("consortium", "members_file")) {
        if (!*v) return fail(L, section, key, "must not be empty");
        if (!resolve_path(L, v, c->members_file, sizeof c->members_file))
            return fail(L, section, key, "'%s' is too long", v);
        L->members_set = true;
    } else if (IS("api", "listen")) {
        return set_listen(L, section, key, v, c->api_host, sizeof c->api_host, &c->api_port);
    } else if (IS("api", "token")) {
        /* The token is a secret: messages give its length, never its text. */
        size_t n = strlen(v);
        if (n < 16) return fail(L, section, key, "too short (%zu characters, at least 16)", n);
        if (n >= sizeof c->token)
            return fail(L, section, key, "too long (%zu characters, at most %zu)", n,
                        sizeof c->token - 1);
        for (const char *s = v; *s; s++)
            if (!isgraph((unsigned char)*s))
                return fail(L, section, key, "holds a space or control character");
        memcpy(c->token, v, n + 1);
        L->have_token = true;
    } else if (IS("api", "max_body")) {
        if (!parse_size(v, 1024, CONFIG_MAX_BODY_CAP, &u))
            return fail(L, section, key,
                        "'%s' is not a size from 1024 bytes to 1G (e.g. 16777216 or 16M)", v);
        c->max_body = (size_t)u;
    } else if (IS("peers", "listen")) {
        return set_listen(L, section, key, v, c->peer_host, sizeof c->peer_host, &c->peer_port);
    } else if (IS("peers", "seeds")) {
        return parse_seeds(L, section, key, v);
    } else if (IS("peers", "cert") || IS("peers", "ca")) {
        bool cert = strcmp(key, "cert") == 0;
        char *dst = cert ? c->peer_cert : c->peer_ca;
        if (!*v) return fail(L, section, key, "must not be empty");
        if (!resolve_path(L, v, dst, CONFIG_PATH_MAX))
            return fail(L, section, key, "'%s' is too long", v);
        if (cert)
            L->cert_set = true;
        else
            L->ca_set = true;
    } else if (IS("storage", "map_size_mb")) {
        if (!parse_u64(v, 1, CONFIG_MAP_MB_MAX, &u))
            return fail(L, section, key, "'%s' is not a number of MiB from 1 to %" PRIu64, v,
                        CONFIG_MAP_MB_MAX);
        c->map_size = u * 1024 * 1024;
    } else if (IS("storage", "sync")) {
        if (!parse_bool(v, &b)) return fail(L, section, key, "'%s' is not true or false", v);
        c->sync = b;
    } else if (IS("policy", "block_roles")) {
        return parse_roles(L, section, key, v);
    } else if (IS("policy", "block_verified")) {
        if (!parse_bool(v, &b)) return fail(L, section, key, "'%s' is not true or false", v);
        c->policy.block_verified = b;
    } else if (IS("policy", "block_min_agree")) {
        if (!parse_u64(v, 0, 1000000, &u))
            return fail(L, section, key, "'%s' is not a count from 0 to 1000000", v);
        c->policy.block_min_agree = (uint32_t)u;
    } else if (IS("policy", "review_min_disputes")) {
        if (!parse_u64(v, 0, 1000000, &u))
            return fail(L, section, key, "'%s' is not a count from 0 to 1000000", v);
        c->policy.review_min_disputes = (uint32_t)u;
    } else if (IS("policy", "block_max_distance")) {
        if (!parse_u64(v, 0, 256, &u))
            return fail(L, section, key, "'%s' is not a distance from 0 to 256", v);
        c->policy.block_max_distance = (int)u;
    } else if (IS("policy", "block_incident_level")) {
        uint8_t lv;
        if (strcmp(v, "off") == 0 || strcmp(v, "0") == 0)
            c->policy.block_incident_level = 0;
        else if (proto_level_parse(v, &lv) == 0)
            c->policy.block_incident_level = lv;
        else
            return fail(L, section, key,
                        "'%s' is not off, situational_awareness, content_incident or "
                        "content_incident_protocol",
                        v);
    } else if (IS("policy", "rule")) {
        if (c->policy.nrules == POLICY_RULES_MAX)
            return fail(L, section, key, "more than %d rules", POLICY_RULES_MAX);
        char why[256];
        struct policy_rule *r = &c->policy.rules[c->policy.nrules];
        if (policy_rule_parse(v, r, why, sizeof why))
            return fail(L, section, key, "'%.200s': %s", v, why);
        for (size_t i = 0; i < c->policy.nrules; i++)
            if (strcmp(c->policy.rules[i].name, r->name) == 0)
                return fail(L, section, key, "a second rule named '%s'", r->name);
        c->policy.nrules++;
    } else if (IS("policy", "default")) {
        if (strcasecmp(v, "block") == 0)
            c->policy.dflt = POLICY_BLOCK;
        else if (strcasecmp(v, "review") == 0)
            c->policy.dflt = POLICY_REVIEW;
        else if (strcasecmp(v, "allow") == 0)
            c->policy.dflt = POLICY_ALLOW;
        else
            return fail(L, section, key, "'%s' is not block, review or allow", v);
    } else if (IS("webhook", "url")) {
        char why[200];
        if (webhook_url_parse(v, &c->webhook, why, sizeof why))
            return fail(L, section, key, "'%.200s': %s", v, why);
        c->webhook.enabled = true;
    } else if (IS("webhook", "secret")) {
        /* A secret: messages give its length, never its text. */
        size_t n = strlen(v);
        if (n < 16) return fail(L, section, key, "too short (%zu characters, at least 16)", n);
        if (n >= sizeof c->webhook.secret)
            return fail(L, section, key, "too long (%zu characters, at most %zu)", n,
                        sizeof c->webhook.secret - 1);
        for (const char *s = v; *s; s++)
            if (!isgraph((unsigned char)*s))
                return fail(L, section, key, "holds a space or control character");
        memcpy(c->webhook.secret, v, n + 1);
    } else if (IS("webhook", "events")) {
        char why[200];
        if (webhook_events_parse(v, &c->webhook.events, why, sizeof why))
            return fail(L, section, key, "%s", why);
    } else if (IS("webhook", "timeout_ms")) {
        if (!parse_u64(v, 100, 600000, &u))
            return fail(L, section, key, "'%s' is not a number of ms from 100 to 600000", v);
        c->webhook.timeout_ms = (uint32_t)u;
    } else if (IS("webhook", "max_attempts")) {
        if (!parse_u64(v, 1, 100, &u))
            return fail(L, section, key, "'%s' is not a count from 1 to 100", v);
        c->webhook.max_attempts = (uint32_t)u;
    } else if (IS("webhook", "queue_max")) {
        if (!parse_u64(v, 1, 1000000, &u))
            return fail(L, section, key, "'%s' is not a count from 1 to 1000000", v);
        c->webhook.queue_max = (uint32_t)u;
    } else if (IS("webhook", "ca_file")) {
        if (!*v) return fail(L, section, key, "must not be empty (leave it out for the system's)");
        if (!resolve_path(L, v, c->webhook.ca_file, sizeof c->webhook.ca_file))
            return fail(L, section, key, "'%s' is too long", v);
    } else {
        static const char *const sections[] = {"node",    "consortium", "api",    "peers",
                                               "storage", "policy",     "webhook"};
        for (size_t i = 0; i < GIF_ARRAY_LEN(sections); i++)
            if (strcmp(section, sections[i]) == 0)
                return fail(L, section, key, "unknown key (value '%s')", v);
        return fail(L, section, key, "unknown section");
    }
#undef IS
    return 1;
}

/* Reads the whole file, NUL-terminated, into *out. */
static int read_file(const char *path, char **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    char *buf = malloc(CONFIG_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    size_t n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        snprintf(err, errlen, "%s: read error", path);
        return -EIO;
    }
    if (n > CONFIG_FILE_MAX) {
        free(buf);
        snprintf(err, errlen, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
        return GIF_E_TOOBIG;
    }
    if (memchr(buf, '\0', n)) {
        free(buf);
        snprintf(err, errlen, "%s: holds a NUL byte: not a text file", path);
        return GIF_E_INVALID;
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}

/* Copies line number `line` (1-based) of text into out, without its newline. */
static void line_text(const char *text, int line, char *out, size_t outlen)
{
    const char *s = text;
    for (int i = 1; i < line && s; i++) {
        s = strchr(s, '\n');
        if (s) s++;
    }
    if (!s) s = "";
    size_t n = strcspn(s, "\r\n");
    if (n >= outlen) n = outlen - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

int config_load(struct node_config *c, const char *path, char *err, size_t errlen)
{
    config_defaults(c);
    if (errlen) err[0] = '\0';
    struct loader *L = calloc(1, sizeof *L);
    if (!L) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    char *text = NULL;
    int rc = 0;
    L->c = c;
    L->path = path;

    if (strlen(path) >= sizeof c->path) {
        snprintf(err, errlen, "%s: path too long", path);
        rc = -ENAMETOOLONG;
        goto out;
    }
    snprintf(c->path, sizeof c->path, "%s", path);

    /* The config file's directory, made absolute so that paths stay right if gifd's working
     * directory changes. */
    char dir[CONFIG_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    char *real = realpath(dir, NULL);
    if (!real) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot resolve its directory '%s': %s", path, dir, strerror(e));
        rc = -e;
        goto out;
    }
    int dn = snprintf(L->dir, sizeof L->dir, "%s", real);
    free(real);
    if (dn < 0 || (size_t)dn >= sizeof L->dir) {
        snprintf(err, errlen, "%s: directory path too long", path);
        rc = -ENAMETOOLONG;
        goto out;
    }
    snprintf(c->data_dir, sizeof c->data_dir, "%s", L->dir);

    rc = read_file(path, &text, err, errlen);
    if (rc) goto out;

    /* inih would silently split a longer line in two. */
    int line = 1;
    for (const char *s = text; *s;) {
        size_t n = strcspn(s, "\n");
        if (n > CONFIG_LINE_MAX) {
            snprintf(err, errlen, "%s:%d: line longer than %d bytes: '%.40s...'", path, line,
                     CONFIG_LINE_MAX, s);
            rc = GIF_E_INVALID;
            goto out;
        }
        s += n;
        if (*s == '\n') s++;
        line++;
    }

    L->text = text;
    int r = ini_parse_stream(reader, L, handler, L);
    if (r < 0) {
        snprintf(err, errlen, "%s: cannot parse (%d)", path, r);
        rc = r == -2 ? -ENOMEM : -EIO;
        goto out;
    }
    if (r > 0 && (L->err_line == 0 || r < L->err_line)) {
        char lt[80];
        line_text(text, r, lt, sizeof lt);
        snprintf(err, errlen, "%s:%d: syntax error: '%s' is not [section] or key = value", path, r,
                 lt);
        rc = GIF_E_INVALID;
        goto out;
    }
    if (L->err_line) {
        snprintf(err, errlen, "%s", L->err);
        rc = L->err_code;
        goto out;
    }
    if (!L->have_root_key) {
        snprintf(err, errlen, "%s: [consortium] root_key: required (64 hex digits)", path);
        rc = GIF_E_INVALID;
        goto out;
    }
    if (!L->have_token) {
        snprintf(err, errlen, "%s: [api] token: required (at least 16 characters)", path);
        rc = GIF_E_INVALID;
        goto out;
    }
    if (c->webhook.enabled && !c->webhook.secret[0]) {
        snprintf(err, errlen,
                 "%s: [webhook] secret: required when url is set (at least 16 characters)", path);
        rc = GIF_E_INVALID;
        goto out;
    }
    if (c->webhook.ca_file[0] && !c->webhook.tls) {
        snprintf(err, errlen, "%s: [webhook] ca_file: only used with an https:// url", path);
        rc = GIF_E_INVALID;
        goto out;
    }
    /* Files that default to the data directory, which is known only now. */
    struct {
        bool set;
        char *dst;
        const char *name;
    } defaults[] = {{L->members_set, c->members_file, "members.jsonl"},
                    {L->cert_set, c->peer_cert, "node.crt"},
                    {L->ca_set, c->peer_ca, "root.crt"}};
    for (size_t i = 0; i < GIF_ARRAY_LEN(defaults); i++) {
        if (defaults[i].set) continue;
        int n = snprintf(defaults[i].dst, CONFIG_PATH_MAX, "%s/%s", c->data_dir, defaults[i].name);
        if (n < 0 || (size_t)n >= CONFIG_PATH_MAX) {
            snprintf(err, errlen, "%s: [node] data_dir: too long for %s", path, defaults[i].name);
            rc = GIF_E_INVALID;
            goto out;
        }
    }

out:
    free(text);
    free(L);
    if (rc) {
        /* No half-loaded configuration escapes; the path stays for messages. */
        char keep[CONFIG_PATH_MAX];
        snprintf(keep, sizeof keep, "%s", c->path);
        config_defaults(c);
        snprintf(c->path, sizeof c->path, "%s", keep);
    }
    return rc;
}
