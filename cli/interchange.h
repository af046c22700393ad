/*
 * gifctl interchange: other tools' formats for signals, alerts and incident records
 * (docs/interchange.md).
 *
 *   STIX 2.1 bundles       ix_stix.c   indicators with file-hash patterns; a gifnet property
 *                                      extension for what STIX cannot say (pdq, vpdq, incident)
 *   MISP JSON events       ix_misp.c   one event per origin organisation and incident
 *   python-threatexchange  ix_csv.c    collab,signal_type,signal_str,category,tags (and the
 *   CSV, and gifctl CSV                gifctl CSV columns, which share the row code)
 *
 * This layer does no network I/O and prints nothing: readers turn a parsed document (or CSV
 * rows) into POST /v1/signals objects handed to a sink, each already checked as the node
 * would check it, or into per-item rejections with a reason; writers turn the record objects
 * of GET /v1/records into the foreign format on a FILE. cli/import.c and cli/export.c do the
 * rest (files, batches, the node); tests/unit/test_interchange.c drives this layer alone.
 */
#ifndef GIF_CLI_INTERCHANGE_H
#define GIF_CLI_INTERCHANGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define IX_SOURCE_MAX 128            /* bytes of a signal's "source" (docs/protocol.md) */
#define IX_DOC_MAX ((size_t)1 << 30) /* a STIX or MISP document read into memory, bytes */
#define IX_MAX_DISTANCE 31           /* the match distance exported with pdq and vpdq */

/* The gifnet STIX extension's fixed ids (docs/interchange.md). */
#define IX_STIX_EXT_ID "extension-definition--650ffc11-6923-4a5a-ab31-ae86ad696825"
#define IX_STIX_GIFNET_IDENTITY "identity--9f2d03f3-0788-497d-a044-2301b0546f89"
/* Namespace of the name-based (version 5) UUIDs of exported objects. */
#define IX_UUID_NAMESPACE "020ca794-81e5-45fe-9bd2-afac619e0e6a"

enum ix_format {
    IX_NONE = 0,
    IX_CSV,   /* gifctl's CSV (docs/cli.md) */
    IX_JSONL, /* gifctl's JSON Lines */
    IX_STIX,  /* a STIX 2.1 bundle */
    IX_MISP,  /* MISP JSON: {"Event"}, {"response": [...]} or [{"Event"}, ...] */
    IX_TECSV, /* python-threatexchange CSV */
};

/* "stix", "misp", "te-csv", "csv", "jsonl" <-> enum; parse returns IX_NONE when unknown. */
const char *ix_format_name(enum ix_format f);
/* Writes s as one CSV field (quoted when it holds a separator, quote or line break), then ','
 * or, for the last field, a newline. */
void ix_csv_field(FILE *f, const char *s, bool last);
enum ix_format ix_format_parse(const char *s);

/* ---- Reading. */

/*
 * Where a reader's results go. item numbers the foreign item (a CSV line, a bundle object, a
 * MISP attribute: unit names it) so that messages point at it. One item may give several
 * signals (a STIX pattern with an MD5 and a SHA-256). Callbacks may be NULL.
 */
struct ix_sink {
    void *ctx;
    const char *unit; /* "line", "object", "attribute" */
    /* A checked POST /v1/signals object; the callee owns the reference. bytes estimates its
     * JSON size (for batch limits). */
    void (*signal)(void *ctx, unsigned long item, json_t *sig, size_t bytes);
    /* An item that cannot become a signal: an unknown type or pattern, a bad value. */
    void (*reject)(void *ctx, unsigned long item, const char *why, const char *value);
    /* An item deliberately left out: revoked, deleted, a false positive, not for detection. */
    void (*skip)(void *ctx, unsigned long item, const char *why, const char *value);
};

struct ix_read_stats {
    unsigned long items;   /* indicators / attributes seen */
    unsigned long ignored; /* objects that are no indicator (identities, relationships, ...) */
};

/* Which reader a parsed JSON document is for: IX_STIX for an object with "type": "bundle",
 * IX_MISP for one with "Event" or "response" (or an array of {"Event"}), else IX_NONE. */
enum ix_format ix_detect_json(const json_t *doc);

/*
 * Reads a STIX 2.1 bundle / MISP document. Returns 0 after handing every item to the sink
 * (rejections included), or -1 when the document as a whole is not of the format (reason in
 * err, nothing handed on).
 */
int ix_stix_read(const json_t *doc, const struct ix_sink *s, struct ix_read_stats *st, char *err,
                 size_t errlen);
int ix_misp_read(const json_t *doc, const struct ix_sink *s, struct ix_read_stats *st, char *err,
                 size_t errlen);

/* CSV (gifctl's and python-threatexchange's): columns found by name in the header. */
enum {
    IX_C_TYPE,
    IX_C_VALUE,
    IX_C_LABELS,
    IX_C_TAGS,
    IX_C_ENTITY,
    IX_C_INCIDENT,
    IX_C_CT,
    IX_C_CONF,
    IX_C_EXP,
    IX_C_VER,
    IX_C_CATEGORY,
    IX_C_COLLAB,
    IX_C_COUNT
};
struct ix_csv {
    int col[IX_C_COUNT];
    bool te;        /* python-threatexchange's layout: signals carry "source" */
    char file[128]; /* base name of the file, for "source" */
};
#define IX_CSV_FIELDS_MAX 64

/* Splits one CSV record in place (RFC 4180 quoting). Returns the field count (fields beyond
 * max are counted, not stored), or -1 when a quoted field is still open at the end. */
int ix_csv_split(char *s, char **fields, int max);
/* Reads the header row. fmt is IX_CSV, IX_TECSV, or IX_NONE to decide from the columns
 * (signal_str means python-threatexchange). Returns 0, or -1 (err) without the needed
 * columns. file names the input (its base name goes into "source"). */
int ix_csv_header(struct ix_csv *c, enum ix_format fmt, const char *file, char **fields, int nf,
                  char *err, size_t errlen);
/* One data row (fields are modified). */
void ix_csv_row(const struct ix_csv *c, unsigned long line, char **fields, int nf, size_t bytes,
                const struct ix_sink *s);

/* ---- Checking what goes to the node. */

/* Checks a signal object as POST /v1/signals would (type, value, labels, fields, caps).
 * Returns NULL when fine, else a reason (into why). */
const char *ix_check_signal(const json_t *sig, char *why, size_t whylen);

/* Label spelling from other tools ("Attack-Footage") to the taxonomy's ("attack_footage").
 * Returns true (out filled) for a known label. */
bool ix_label_norm(const char *s, char *out, size_t outlen);

/* Copies "prefix" + "name" into out (IX_SOURCE_MAX + 1 bytes), cutting name at a UTF-8
 * character boundary so that the whole fits IX_SOURCE_MAX bytes. */
void ix_source(char *out, const char *prefix, const char *name);

/* vpdq frames from python-threatexchange's form (a JSON array of "hex,quality,seconds"
 * strings, as a string or parsed) or gifnet's (an array of {hash, quality, frame, time}).
 * Returns the frames as POST /v1/signals wants them, or NULL with a reason. */
json_t *ix_vpdq_frames(const json_t *v, char *why, size_t whylen);
/* The frames in python-threatexchange's form (a compact JSON text, malloc'd). */
char *ix_vpdq_te_string(const json_t *frames);

/* ---- Writing. */

/* A name-based UUID (version 5, SHA-1) of name under IX_UUID_NAMESPACE: "xxxxxxxx-...". */
void ix_uuid5(char out[37], const char *name);

struct ix_writer;
struct ix_write_stats {
    unsigned long records;   /* records seen */
    unsigned long written;   /* signals written */
    unsigned long skipped;   /* signals the format cannot hold (te-csv: url) */
    unsigned long alerts;    /* alerts written (STIX, MISP) */
    unsigned long incidents; /* incident records written (STIX, MISP) */
};
/* A writer of fmt (IX_STIX, IX_MISP, IX_TECSV) to f. members is GET /v1/members' answer (may
 * be NULL): organisations and roles for STIX identities. Returns NULL on bad fmt or memory. */
struct ix_writer *ix_writer_new(enum ix_format fmt, FILE *f, const json_t *members);
/* One record object of GET /v1/records: signals, and for STIX and MISP alerts and incident
 * records too; other kinds are passed over. Returns 0 or -1 (out of memory). */
int ix_writer_add(struct ix_writer *w, const json_t *rec);
/* Writes what is held and the trailer. Returns 0 or -1 (a write error). */
int ix_writer_finish(struct ix_writer *w, struct ix_write_stats *st);
void ix_writer_free(struct ix_writer *w);

#endif
