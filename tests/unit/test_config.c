/*
 * config_load: defaults, a full file, every kind of bad value (the message names file:line,
 * [section] key and quotes the value), unknown keys and sections, required keys, and paths
 * resolved against the file's directory. Files are written under a fresh /tmp directory.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/config.h"
#include "util/gif.h"

#define ROOT "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"
#define TOKEN "0123456789abcdef-token"
#define REQUIRED "[consortium]\nroot_key = " ROOT "\n[api]\ntoken = " TOKEN "\n"

struct fx {
    char dir[PATH_MAX]; /* realpath of the temp directory */
    char path[PATH_MAX + 32];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char tmpl[] = "/tmp/gif_test_config_XXXXXX";
    if (!mkdtemp(tmpl)) return -1;
    if (!realpath(tmpl, f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/gifd.ini", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    unlink(f->path);
    char sub[PATH_MAX + 32];
    snprintf(sub, sizeof sub, "%s/etc/gifd.ini", f->dir);
    unlink(sub);
    snprintf(sub, sizeof sub, "%s/etc", f->dir);
    rmdir(sub);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* Loads text; returns config_load's result with the message in err. */
static int load(struct fx *f, struct node_config *c, const char *text, char *err, size_t errlen)
{
    write_file(f->path, text);
    return config_load(c, f->path, err, errlen);
}

static void test_defaults(void **state)
{
    (void)state;
    struct node_config c;
    config_defaults(&c);
    assert_string_equal(c.api_host, "127.0.0.1");
    assert_int_equal(c.api_port, 7480);
    assert_string_equal(c.peer_host, "0.0.0.0");
    assert_int_equal(c.peer_port, 7481);
    assert_int_equal(c.max_body, 16 * 1024 * 1024);
    assert_int_equal(c.map_size, (uint64_t)64 << 30);
    assert_true(c.sync);
    assert_int_equal(c.log_level, GIF_LOG_INFO);
    assert_true(c.policy.block_role[PROTO_ROLE_AGENCY]);
    assert_false(c.policy.block_role[PROTO_ROLE_PLATFORM]);
    assert_false(c.policy.block_role[PROTO_ROLE_OBSERVER]);
    assert_true(c.policy.block_verified);
    assert_int_equal(c.policy.block_min_agree, 2);
    assert_int_equal(c.policy.review_min_disputes, 2);
    assert_int_equal(c.policy.block_max_distance, 31);
    assert_int_equal(c.policy.dflt, POLICY_REVIEW);
    assert_int_equal(c.policy.block_incident_level, PROTO_LEVEL_INCIDENT);
    assert_int_equal(c.policy.nrules, 0);
}

static void test_minimal_file_defaults(void **state)
{
    struct fx *f = *state;
    struct node_config c;
    char err[512];
    assert_int_equal(load(f, &c, REQUIRED, err, sizeof err), 0);
    assert_string_equal(err, "");
    /* data_dir defaults to the file's directory; members_file sits in data_dir. */
    assert_string_equal(c.data_dir, f->dir);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s/members.jsonl", f->dir);
    assert_string_equal(c.members_file, want);
    /* So do the node's certificate and the root's. */
    snprintf(want, sizeof want, "%s/node.crt", f->dir);
    assert_string_equal(c.peer_cert, want);
    snprintf(want, sizeof want, "%s/root.crt", f->dir);
    assert_string_equal(c.peer_ca, want);
    assert_int_equal(c.nseeds, 0);
    assert_string_equal(c.path, f->path);
    assert_int_equal(c.root_key[0], 0x00);
    assert_int_equal(c.root_key[1], 0x11);
    assert_int_equal(c.root_key[31], 0xff);
    assert_string_equal(c.token, TOKEN);
    assert_int_equal(c.api_port, 7480);
    assert_int_equal(c.peer_port, 7481);
    assert_int_equal(c.policy.dflt, POLICY_REVIEW);
    assert_true(c.sync);
}

static void test_full_file(void **state)
{
    struct fx *f = *state;
    struct node_config c;
    char err[512];
    const char *text = "; a full configuration\n"
                       "[node]\n"
                       "data_dir = /var/lib/gifd\n"
                       "log_level = debug\n"
                       "\n"
                       "[consortium]\n"
                       "root_key = " ROOT "\n"
                       "members_file = /etc/gifd/members.jsonl\n"
                       "[api]\n"
                       "listen = [::1]:8080\n"
                       "token = " TOKEN "\n"
                       "max_body = 2M\n"
                       "[peers]\n"
                       "listen = 10.0.0.5:9000\n"
                       "seeds = node-b.example:7481, 192.0.2.7:7481,[2001:db8::1]:7481\n"
                       "cert = /etc/gifd/node.crt\n"
                       "ca = tls/root.crt\n"
                       "[storage]\n"
                       "map_size_mb = 1024\n"
                       "sync = no\n"
                       "[policy]\n"
                       "block_roles = agency, platform\n"
                       "block_verified = false\n"
                       "block_min_agree = 0\n"
                       "review_min_disputes = 5\n"
                       "block_max_distance = 256\n"
                       "block_incident_level = content_incident_protocol\n"
                       "rule = crisis: block if incident >= content_incident and alert\n"
                       "rule = stale: review if age > 730d\n"
                       "default = allow\n";
    assert_int_equal(load(f, &c, text, err, sizeof err), 0);
    assert_string_equal(c.data_dir, "/var/lib/gifd");
    assert_int_equal(c.log_level, GIF_LOG_DEBUG);
    assert_string_equal(c.members_file, "/etc/gifd/members.jsonl");
    assert_string_equal(c.api_host, "::1");
    assert_int_equal(c.api_port, 8080);
    assert_int_equal(c.max_body, 2 * 1024 * 1024);
    assert_string_equal(c.peer_host, "10.0.0.5");
    assert_int_equal(c.peer_port, 9000);
    assert_int_equal(c.nseeds, 3);
    assert_string_equal(c.seeds[0].host, "node-b.example");
    assert_int_equal(c.seeds[0].port, 7481);
    assert_string_equal(c.seeds[1].host, "192.0.2.7");
    assert_string_equal(c.seeds[2].host, "2001:db8::1");
    assert_int_equal(c.seeds[2].port, 7481);
    assert_string_equal(c.peer_cert, "/etc/gifd/node.crt");
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s/tls/root.crt", f->dir); /* against the file's directory */
    assert_string_equal(c.peer_ca, want);
    assert_int_equal(c.map_size, (uint64_t)1024 * 1024 * 1024);
    assert_false(c.sync);
    assert_true(c.policy.block_role[PROTO_ROLE_AGENCY]);
    assert_true(c.policy.block_role[PROTO_ROLE_PLATFORM]);
    assert_false(c.policy.block_role[PROTO_ROLE_OBSERVER]);
    assert_false(c.policy.block_verified);
    assert_int_equal(c.policy.block_min_agree, 0);
    assert_int_equal(c.policy.review_min_disputes, 5);
    assert_int_equal(c.policy.block_max_distance, 256);
    assert_int_equal(c.policy.dflt, POLICY_ALLOW);
    assert_int_equal(c.policy.block_incident_level, PROTO_LEVEL_PROTOCOL);
    assert_int_equal(c.policy.nrules, 2); /* repeated keys add rules, in file order */
    assert_string_equal(c.policy.rules[0].name, "crisis");
    assert_int_equal(c.policy.rules[0].verdict, POLICY_BLOCK);
    assert_int_equal(c.policy.rules[0].ncond, 2);
    assert_string_equal(c.policy.rules[1].name, "stale");

    /* An empty block_roles list means no role blocks by itself; yes/1 are booleans. */
    assert_int_equal(load(f, &c,
                          REQUIRED "[policy]\nblock_roles =\nblock_verified = 1\n"
                                   "[storage]\nsync = YES\n",
                          err, sizeof err),
                     0);
    assert_false(c.policy.block_role[PROTO_ROLE_AGENCY]);
    assert_true(c.policy.block_verified);
    assert_true(c.sync);
}

/* Each bad value: the line it is on (the 5th: after REQUIRED's four lines), section, key and
 * the quoted value must be in the message. */
static void test_bad_values(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *section, *key, *value;
    } bad[] = {
        {"node", "log_level", "loud"},
        {"consortium", "root_key", "abcd"},
        {"consortium", "root_key", ROOT "00"},
        {"consortium", "root_key",
         "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"},
        {"api", "listen", "127.0.0.1:99999"},
        {"api", "listen", "127.0.0.1"},
        {"api", "listen", "::1:80"},
        {"api", "listen", "localhost:80"},
        {"api", "listen", ":80"},
        {"api", "listen", "[::1]:http"},
        {"api", "max_body", "big"},
        {"api", "max_body", "12"},
        {"api", "max_body", "2G"},
        {"peers", "listen", "0.0.0.0:-1"},
        {"peers", "seeds", "good:1, bad"},
        {"peers", "seeds", "host:0"},
        {"storage", "map_size_mb", "0"},
        {"storage", "map_size_mb", "-5"},
        {"storage", "map_size_mb", "99999999999999999999999"},
        {"storage", "sync", "maybe"},
        {"policy", "block_roles", "agency, police"},
        {"policy", "block_verified", "2"},
        {"policy", "block_min_agree", "two"},
        {"policy", "review_min_disputes", "-1"},
        {"policy", "block_max_distance", "257"},
        {"policy", "block_incident_level", "severe"},
        {"policy", "rule", "crisis: block when alert"},
        {"policy", "rule", "x: block if age > soon"},
        {"policy", "default", "deny"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[1024], err[512], want[512];
        struct node_config c;
        snprintf(text, sizeof text, REQUIRED "[%s]\n%s = %s\n", bad[i].section, bad[i].key,
                 bad[i].value);
        int rc = load(f, &c, text, err, sizeof err);
        if (rc != GIF_E_INVALID)
            fail_msg("accepted [%s] %s = %s", bad[i].section, bad[i].key, bad[i].value);
        snprintf(want, sizeof want, "%s:6: [%s] %s: ", f->path, bad[i].section, bad[i].key);
        if (strncmp(err, want, strlen(want)) != 0) fail_msg("message '%s' (want '%s')", err, want);
        /* The seeds message quotes the one bad item of the list. */
        const char *quoted = bad[i].value;
        if (strcmp(bad[i].key, "seeds") == 0) quoted = strchr(bad[i].value, ',') ? "bad" : "host:0";
        if (strcmp(bad[i].key, "block_roles") == 0) quoted = "police";
        snprintf(want, sizeof want, "'%s'", quoted);
        if (!strstr(err, want)) fail_msg("message '%s' does not quote %s", err, want);
        /* A failed load leaves no half-read secrets behind. */
        assert_string_equal(c.token, "");
    }

    /* The brief's example, verbatim. */
    char err[512], want[512];
    struct node_config c;
    assert_int_equal(load(f, &c,
                          "[api]\ntoken = " TOKEN "\n\n\n\n\nlisten = 127.0.0.1:99999\n"
                          "[consortium]\nroot_key = " ROOT "\n",
                          err, sizeof err),
                     GIF_E_INVALID);
    snprintf(want, sizeof want, "%s:7: [api] listen: '127.0.0.1:99999' is not host:port", f->path);
    assert_int_equal(strncmp(err, want, strlen(want)), 0);

    /* A short token is refused without echoing it. */
    assert_int_equal(load(f, &c, "[consortium]\nroot_key = " ROOT "\n[api]\ntoken = short-secret\n",
                          err, sizeof err),
                     GIF_E_INVALID);
    assert_non_null(strstr(err, ":4: [api] token: too short"));
    assert_null(strstr(err, "short-secret"));

    /* The first error is the one reported. */
    assert_int_equal(
        load(f, &c, REQUIRED "[policy]\ndefault = x\nblock_max_distance = y\n", err, sizeof err),
        GIF_E_INVALID);
    assert_non_null(strstr(err, ":6: [policy] default: 'x'"));

    /* A line that is neither a section nor key = value. */
    assert_int_equal(load(f, &c, REQUIRED "[policy\n", err, sizeof err), GIF_E_INVALID);
    assert_non_null(strstr(err, ":5: syntax error"));
    assert_non_null(strstr(err, "'[policy'"));
    assert_int_equal(load(f, &c, REQUIRED "just words\n", err, sizeof err), GIF_E_INVALID);
    assert_non_null(strstr(err, ":5: syntax error: 'just words'"));

    /* At most CONFIG_SEEDS_MAX seeds; the one too many is quoted. A second seeds line
     * replaces the first. Lines are capped, so the list spans a few keys' worth of short
     * names: use two-character hosts. */
    char seeds[1024] = REQUIRED "[peers]\nseeds = a:1\nseeds = ";
    for (int i = 0; i < CONFIG_SEEDS_MAX; i++)
        snprintf(seeds + strlen(seeds), sizeof seeds - strlen(seeds), "%sh%c:%d", i ? "," : "",
                 'a' + i % 26, i + 1);
    strcat(seeds, "\n");
    assert_int_equal(load(f, &c, seeds, err, sizeof err), 0);
    assert_int_equal(c.nseeds, CONFIG_SEEDS_MAX);
    assert_string_equal(c.seeds[0].host, "ha");
    assert_int_equal(c.seeds[CONFIG_SEEDS_MAX - 1].port, CONFIG_SEEDS_MAX);
    seeds[strlen(seeds) - 1] = '\0';
    strcat(seeds, ",zz:9\n");
    assert_int_equal(load(f, &c, seeds, err, sizeof err), GIF_E_INVALID);
    assert_non_null(strstr(err, "[peers] seeds: more than 32 seeds ('zz:9' is one too many)"));
    assert_int_equal(load(f, &c, REQUIRED "[peers]\ncert =\n", err, sizeof err), GIF_E_INVALID);
    assert_non_null(strstr(err, ":6: [peers] cert: must not be empty"));

    /* A line too long for inih is refused rather than split. */
    char longline[600];
    snprintf(longline, sizeof longline, REQUIRED "[node]\ndata_dir = /%0300d\n", 0);
    assert_int_equal(load(f, &c, longline, err, sizeof err), GIF_E_INVALID);
    assert_non_null(strstr(err, ":6: line longer than"));
}

static void test_unknown(void **state)
{
    struct fx *f = *state;
    struct node_config c;
    char err[512];
    assert_int_equal(load(f, &c, REQUIRED "[api]\nlisten_port = 80\n", err, sizeof err),
                     GIF_E_INVALID);
    assert_non_null(strstr(err, ":6: [api] listen_port: unknown key"));
    assert_non_null(strstr(err, "'80'"));
    assert_int_equal(load(f, &c, REQUIRED "[tls]\ncert = x.pem\n", err, sizeof err), GIF_E_INVALID);
    assert_non_null(strstr(err, ":6: [tls] cert: unknown section"));
    /* A key before any section. */
    assert_int_equal(load(f, &c, "token = x\n" REQUIRED, err, sizeof err), GIF_E_INVALID);
    assert_non_null(strstr(err, ":1: [] token: unknown section"));
    /* Keys are case-sensitive, as documented. */
    assert_int_equal(load(f, &c, REQUIRED "[API]\nlisten = 127.0.0.1:1\n", err, sizeof err),
                     GIF_E_INVALID);
}

static void test_required(void **state)
{
    struct fx *f = *state;
    struct node_config c;
    char err[512], want[512];
    assert_int_equal(load(f, &c, "[api]\ntoken = " TOKEN "\n", err, sizeof err), GIF_E_INVALID);
    snprintf(want, sizeof want, "%s: [consortium] root_key: required", f->path);
    assert_int_equal(strncmp(err, want, strlen(want)), 0);
    assert_int_equal(load(f, &c, "[consortium]\nroot_key = " ROOT "\n", err, sizeof err),
                     GIF_E_INVALID);
    snprintf(want, sizeof want, "%s: [api] token: required", f->path);
    assert_int_equal(strncmp(err, want, strlen(want)), 0);
    /* A file that is not there. */
    char missing[PATH_MAX + 32];
    snprintf(missing, sizeof missing, "%s/nope.ini", f->dir);
    assert_int_equal(config_load(&c, missing, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "nope.ini"));
}

static void test_relative_paths(void **state)
{
    struct fx *f = *state;
    struct node_config c;
    char err[512], sub[PATH_MAX + 32], want[PATH_MAX + 64];
    snprintf(sub, sizeof sub, "%s/etc", f->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(sub, sizeof sub, "%s/etc/gifd.ini", f->dir);
    write_file(sub, REQUIRED "[node]\ndata_dir = ../data\n");
    assert_int_equal(config_load(&c, sub, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s/etc/../data", f->dir);
    assert_string_equal(c.data_dir, want);
    /* members_file follows a configured data_dir, even when set after it. */
    snprintf(want, sizeof want, "%s/etc/../data/members.jsonl", f->dir);
    assert_string_equal(c.members_file, want);
    snprintf(want, sizeof want, "%s/etc/../data/node.crt", f->dir);
    assert_string_equal(c.peer_cert, want);

    write_file(sub, "[consortium]\nmembers_file = m/members.jsonl\n" REQUIRED
                    "[node]\ndata_dir = /srv/gifd\n");
    assert_int_equal(config_load(&c, sub, err, sizeof err), 0);
    assert_string_equal(c.data_dir, "/srv/gifd");
    snprintf(want, sizeof want, "%s/etc/m/members.jsonl", f->dir);
    assert_string_equal(c.members_file, want);

    /* A config path given relative to the working directory resolves the same way. */
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(f->dir), 0);
    assert_int_equal(config_load(&c, "etc/gifd.ini", err, sizeof err), 0);
    assert_int_equal(chdir(cwd), 0);
    assert_string_equal(c.members_file, want);
    assert_string_equal(c.path, "etc/gifd.ini");
}

static void test_hostport(void **state)
{
    (void)state;
    char h[64];
    int port;
    assert_int_equal(config_parse_hostport("127.0.0.1:7480", h, sizeof h, &port), 0);
    assert_string_equal(h, "127.0.0.1");
    assert_int_equal(port, 7480);
    assert_int_equal(config_parse_hostport("[::1]:0", h, sizeof h, &port), 0);
    assert_string_equal(h, "::1");
    assert_int_equal(port, 0);
    assert_int_equal(config_parse_hostport("node.example:65535", h, sizeof h, &port), 0);
    assert_int_equal(config_parse_hostport("node.example:65536", h, sizeof h, &port),
                     GIF_E_INVALID);
    assert_int_equal(config_parse_hostport("[::1]", h, sizeof h, &port), GIF_E_INVALID);
    assert_int_equal(config_parse_hostport("[zz]:1", h, sizeof h, &port), GIF_E_INVALID);
    assert_int_equal(config_parse_hostport("a b:1", h, sizeof h, &port), GIF_E_INVALID);
    assert_int_equal(config_parse_hostport("host:", h, sizeof h, &port), GIF_E_INVALID);
    assert_int_equal(config_parse_hostport("host:+1", h, sizeof h, &port), GIF_E_INVALID);
    assert_int_equal(config_parse_hostport("averyveryverylonghostname:1", h, 8, &port),
                     GIF_E_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test_setup_teardown(test_minimal_file_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relative_paths, setup, teardown),
        cmocka_unit_test(test_hostport),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
