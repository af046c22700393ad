/* Shared between the interchange readers and writers (ix_*.c); see interchange.h. */
#ifndef GIF_CLI_IX_INTERNAL_H
#define GIF_CLI_IX_INTERNAL_H

#include <sodium.h>

#include "cli/interchange.h"

/* A record of GET /v1/records that the writers carry (docs/interchange.md): a signal, an alert
 * or an incident record. Strings point into the record object; NULL when absent or empty. */
enum ix_kind { IX_K_SIGNAL = 1, IX_K_ALERT, IX_K_INCIDENT };
struct ix_rec {
    enum ix_kind kind;
    const char *id, *origin, *org, *role, *time; /* time: RFC 3339 with ms */
    uint64_t time_ms;
    const char *incident; /* always set for alerts and incident records */
    bool retracted;       /* signals and alerts */
    /* signal */
    const char *type;    /* md5, sha256, pdq, vpdq, url */
    const json_t *value; /* hex string, or the frames of a vpdq */
    const json_t *labels;
    const char *entity, *content_type, *source;
    const char *expires; /* NULL: never */
    uint64_t expires_ms;
    json_int_t confidence; /* -1 when absent */
    bool verified;
    /* alert and incident record */
    uint8_t level;    /* enum proto_level: the alert's, or the incident's after the action */
    const char *note; /* NULL when empty */
    /* alert */
    const char *detector, *detector_version;
    int score;             /* 0..10,000 (the detector's score times 10,000); -1 when absent */
    const json_t *signals; /* [{"type", "value"}], each checked by ix_rec_get */
    /* incident record */
    uint8_t action; /* enum proto_action */
};
/* Fills r from a record object; returns false when it is no well-formed signal, alert or
 * incident record (the writers pass it over). */
bool ix_rec_get(const json_t *rec, struct ix_rec *r);

/* An incident as the exported records fold it, the way a node does (docs/protocol.md): the
 * level and status of the latest incident record by time (ties by id), or, before any, the
 * highest alert level. */
struct ix_incident {
    char *name;
    uint64_t first_ms, last_ms; /* of the exported records naming it */
    uint8_t alert_level;        /* the highest alert's, 0 none */
    uint8_t action, action_level;
    uint64_t action_ms;
    char action_id[65];
};
/* The folded level (enum proto_level, 0 when no alert or incident record names it). */
uint8_t ix_incident_level(const struct ix_incident *in);
/* Whether its latest incident record concludes it. */
bool ix_incident_concluded(const struct ix_incident *in);
/* The incident named name, or NULL. */
const struct ix_incident *ix_incident_find(const struct ix_writer *w, const char *name);
/* The STIX id of an incident ("incident--<UUIDv5 of incident:NAME>") into out. */
void ix_stix_incident_id(char out[48], const char *name);

struct ix_writer {
    enum ix_format fmt;
    FILE *f;
    json_t *members; /* GET /v1/members' answer, or NULL */
    struct ix_write_stats st;
    /* STIX */
    bool first;
    crypto_hash_sha256_state ids; /* over the objects' ids: the bundle's id */
    char (*origins)[65];          /* origins whose identity object was written */
    size_t norigins, corigins;
    /* MISP: attributes gathered per (origin, incident) */
    struct ix_misp_group *groups;
    size_t ngroups, cgroups;
    /* STIX and MISP: the incidents named by the records written */
    struct ix_incident *incs;
    size_t nincs, cincs;
};

/* Write a signal, an alert or an incident record (ix_stix.c, ix_misp.c); ix_te_add takes
 * signals only. Each returns 0 or -1 (out of memory). */
int ix_stix_add(struct ix_writer *w, const struct ix_rec *r);
int ix_stix_finish(struct ix_writer *w);
int ix_misp_add(struct ix_writer *w, const struct ix_rec *r);
int ix_misp_finish(struct ix_writer *w);
void ix_misp_free(struct ix_writer *w);
int ix_te_add(struct ix_writer *w, const struct ix_rec *r);

/* Percent-encodes the bytes of s that are in esc, '%' and control bytes into out. Returns out
 * (cut short, still terminated, when it does not fit). */
char *ix_pct_encode(char *out, size_t outlen, const char *s, const char *esc);
/* Decodes %XX in place; returns false on a broken escape or an encoded NUL. */
bool ix_pct_decode(char *s);

/* "gifnet:key=value" (TE tags) or gifnet:key="value" (MISP machine tags) applied to sig: the
 * signal type hint goes to *stype_hint (NULL: ignored). Returns false when the tag is not a
 * gifnet one; *bad is set to a reason for a gifnet tag with a bad value. */
bool ix_gifnet_tag(json_t *sig, const char *tag, char *stype_hint, size_t hintlen,
                   const char **bad);
/* A free-form tag that names a label is added to sig's "labels". */
void ix_tag_label(json_t *sig, const char *tag);
/* Adds a label (already in the taxonomy) to sig's "labels", once, sorted order not needed. */
void ix_add_label(json_t *sig, const char *label);

/* Sets "source" on sig and hands it to the sink after ix_check_signal; a failed check is a
 * rejection with its reason (value: what to quote). */
void ix_emit(const struct ix_sink *s, unsigned long item, json_t *sig, const char *value);
void ix_reject(const struct ix_sink *s, unsigned long item, const char *why, const char *value);
void ix_skip(const struct ix_sink *s, unsigned long item, const char *why, const char *value);

/* Lower-cases ASCII in place. */
void ix_lower(char *s);

#endif
