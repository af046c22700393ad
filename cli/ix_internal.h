/* Shared between the interchange readers and writers (ix_*.c); see interchange.h. */
#ifndef GIF_CLI_IX_INTERNAL_H
#define GIF_CLI_IX_INTERNAL_H

#include <sodium.h>

#include "cli/interchange.h"

/* A signal of GET /v1/records, as the writers need it. */
struct ix_rec {
    const char *id, *origin, *org, *role, *time; /* time: RFC 3339 with ms */
    uint64_t time_ms;
    const char *type;   /* md5, sha256, pdq, vpdq, url */
    const json_t *value; /* hex string, or the frames of a vpdq */
    const json_t *labels;
    const char *entity, *incident, *content_type, *source;
    const char *expires; /* NULL: never */
    uint64_t expires_ms;
    json_int_t confidence; /* -1 when absent */
    bool verified, retracted;
};
/* Fills r from a record object; returns false when it is no well-formed signal record. */
bool ix_rec_get(const json_t *rec, struct ix_rec *r);

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
};

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
