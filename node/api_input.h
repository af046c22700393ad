/*
 * Validation of API request bodies into record drafts. Pure (no I/O), so unit tests and the
 * fuzz harness drive it directly. Every refusal fills a struct api_err naming the field and
 * quoting the bad value.
 */
#ifndef GIF_NODE_API_INPUT_H
#define GIF_NODE_API_INPUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/record.h"

#define API_BATCH_MAX 1000

struct api_err {
    int status;       /* HTTP status */
    const char *code; /* JSON error code */
    char field[96];
    char value[256]; /* the bad value, quoted as received (cut at 200 bytes) */
    char message[320];
};

/* A bump allocator for one request: everything is freed at once with arena_free. */
struct arena_block;
struct arena {
    struct arena_block *head;
};
void *arena_alloc(struct arena *a, size_t n);
void arena_free(struct arena *a);

/* Parses a signal object (docs/api.md) into a draft of kind signal. String fields point into
 * obj (keep it alive); decoded bytes live in a. field_prefix names the object in errors
 * (e.g. "signals[3]."). Returns 0 or -1 with *e filled. */
int api_parse_signal(json_t *obj, struct proto_record *draft, struct arena *a,
                     const char *field_prefix, struct api_err *e);
int api_parse_alert(json_t *obj, struct proto_record *draft, struct arena *a, struct api_err *e);
int api_parse_retraction(json_t *obj, struct proto_record *draft, struct api_err *e);
int api_parse_feedback(json_t *obj, struct proto_record *draft, struct api_err *e);

/*
 * Parses a (type, value) pair as used by lookups into the stored key bytes: hex for md5,
 * sha256 and pdq; for url, the URL (normalised and hashed) or a 64-hex hash. out must hold 32
 * bytes. Returns 0 or -1 with *e filled (field names `field`).
 */
int api_parse_key(const char *type, const char *value, size_t vlen, uint8_t *stype, uint8_t out[32],
                  size_t *outlen, const char *field, struct api_err *e);

/* Fills e for a refusal. */
void api_err_set(struct api_err *e, int status, const char *code, const char *field,
                 const char *value, size_t vlen, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* Checks that obj has only keys from allowed (NULL-terminated). Returns 0 or -1. */
int api_check_fields(json_t *obj, const char *const *allowed, const char *prefix,
                     struct api_err *e);

#endif
