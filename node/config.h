/*
 * gifd's configuration: an INI file (read with inih). Every key, its default and meaning is
 * in docs/operations.md. Relative paths are resolved against the config file's directory.
 */
#ifndef GIF_NODE_CONFIG_H
#define GIF_NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/record.h"

#define CONFIG_PATH_MAX 4096
#define CONFIG_ROLES_MAX 3
#define CONFIG_SEEDS_MAX 32 /* [peers] seeds: addresses to dial */

enum policy_verdict { POLICY_ALLOW = 0, POLICY_REVIEW = 1, POLICY_BLOCK = 2 };

#define POLICY_RULES_MAX 32 /* [policy] rule lines */
#define POLICY_CONDS_MAX 8  /* conditions per rule */
#define POLICY_NAME_MAX 32

/* One condition of a configured rule (node/policy.c parses and evaluates them). */
struct policy_cond {
    uint8_t what; /* enum policy_field (policy.h) */
    uint8_t op;   /* enum policy_op */
    int64_t value;
    char label[PROTO_LABEL_MAX + 1];
};

/* A configured rule: `rule = NAME: VERDICT if COND and COND ...` (docs/policy.md). */
struct policy_rule {
    char name[POLICY_NAME_MAX + 1];
    enum policy_verdict verdict;
    size_t ncond;
    struct policy_cond cond[POLICY_CONDS_MAX];
};

struct policy_config {
    bool block_role[4];           /* indexed by enum proto_role: records from these roles block */
    bool block_verified;          /* a signal an agency marked verified blocks */
    uint32_t block_min_agree;     /* block when this many organisations agree; 0 = never */
    uint32_t review_min_disputes; /* review when this many organisations dispute; 0 = never */
    int block_max_distance;       /* near matches further than this are at most review */
    enum policy_verdict dflt;     /* verdict when no rule decides */
    uint8_t block_incident_level; /* a confirmed open incident at this level or above blocks
                                     its signals (enum proto_level); 0 = never */
    size_t nrules;                /* configured rules, tried in order before the built-in ones */
    struct policy_rule rules[POLICY_RULES_MAX];
};

/* [webhook] (node/webhook.c, docs/operations.md). Events are bits (1 << enum webhook_event). */
#define CONFIG_WEBHOOK_URL_MAX 200
struct webhook_config {
    bool enabled;                        /* url is set */
    char url[CONFIG_WEBHOOK_URL_MAX];    /* as configured, http[s]://host[:port]/path */
    bool tls;                            /* an https:// url */
    char host[256];                      /* parsed from url: a name or an address (IPv6 bare) */
    int port;                            /* 1..65535, default 80 (https: 443) */
    char path[CONFIG_WEBHOOK_URL_MAX];   /* with its query, "/" at least */
    char secret[CONFIG_WEBHOOK_URL_MAX]; /* HMAC key, >= 16 characters; never logged */
    unsigned events;                     /* default: every event */
    uint32_t timeout_ms;                 /* one attempt, connect to status line; default 5000 */
    uint32_t max_attempts;               /* before a delivery is dead-lettered; default 8 */
    uint32_t queue_max;                  /* deliveries waiting; default 10000 */
    char ca_file[CONFIG_PATH_MAX];       /* https: trusted CA certificates (PEM); "" = the
                                            system trust store */
};

struct node_config {
    char path[CONFIG_PATH_MAX];     /* the config file itself */
    char data_dir[CONFIG_PATH_MAX]; /* [node] data_dir, default: the config file's directory */
    int log_level;                  /* [node] log_level: debug, info, warn, error; default info */

    uint8_t root_key[PROTO_KEY_LEN];    /* [consortium] root_key (64 hex), required */
    char members_file[CONFIG_PATH_MAX]; /* [consortium] members_file, default
                                           <data_dir>/members.jsonl; loaded at start */

    char api_host[256]; /* [api] listen host:port, default 127.0.0.1:7480 */
    int api_port;
    char token[256]; /* [api] token: bearer token for writes, required, >= 16 chars */
    size_t max_body; /* [api] max_body bytes, default 16 MiB */

    char peer_host[256]; /* [peers] listen, default 0.0.0.0:7481 (used by the network) */
    int peer_port;
    char peer_cert[CONFIG_PATH_MAX]; /* [peers] cert: this node's certificate (PEM), default
                                        <data_dir>/node.crt */
    char peer_ca[CONFIG_PATH_MAX];   /* [peers] ca: the consortium root's certificate (PEM),
                                        default <data_dir>/root.crt */
    size_t nseeds;                   /* [peers] seeds: host:port list, in file order */
    struct config_seed {
        char host[256]; /* a name or an address (IPv6 without brackets) */
        int port;       /* 1..65535 */
    } seeds[CONFIG_SEEDS_MAX];

    uint64_t map_size; /* [storage] map_size_mb, default 65536 (sparse) */
    bool sync;         /* [storage] sync, default true; false only for tests */

    struct policy_config policy; /* [policy] */
    /* [webhook] */
    struct webhook_config webhook;
};

/* Fills c with every default (no file read). */
void config_defaults(struct node_config *c);

/*
 * Reads and validates the file at path into c (defaults first). On failure returns a negative
 * code and writes one sentence into err naming the file, line, key and the bad value, e.g.
 * "gifd.ini:7: [api] listen: '127.0.0.1:99999' is not host:port".
 */
int config_load(struct node_config *c, const char *path, char *err, size_t errlen);

/* Parses "host:port" (port 0..65535; IPv6 as [::1]:7480). Returns 0 or GIF_E_INVALID. */
int config_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

#endif
