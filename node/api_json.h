/* JSON helpers shared by the API handlers: times, hex, records and match objects. */
#ifndef GIF_NODE_API_JSON_H
#define GIF_NODE_API_JSON_H

#include <jansson.h>
#include <stdint.h>

#include "node/config.h"
#include "protocol/record.h"
#include "storage/store.h"

json_t *api_time(uint64_t ms); /* a JSON string, or null for 0 */
json_t *api_hex(const uint8_t *p, size_t n);
/* Parses an RFC 3339 string (gif_time_parse) or an integer of ms. Returns 0 or GIF_E_INVALID. */
int api_parse_time(const json_t *v, uint64_t *ms);

/* A signal value as JSON (hex, or the vpdq frame list). */
json_t *api_value_json(uint8_t stype, const struct proto_bytes *v);

/* The record as JSON (docs/api.md "GET /v1/records/{id}"). now_ms feeds the policy. */
json_t *api_record_json(struct store_rd *rd, const struct proto_record *r,
                        const struct store_rec *sr, const struct node_config *cfg, uint64_t now_ms);
/*
 * A match object for signal r; distance < 0 for exact. Sets *verdict to the policy verdict.
 * Returns NULL for a record that is not a signal.
 */
json_t *api_match_json(struct store_rd *rd, const struct proto_record *r,
                       const struct node_config *cfg, int distance, uint64_t now_ms,
                       enum policy_verdict *verdict);

#endif
