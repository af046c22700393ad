/* JSON helpers shared by the API handlers: times, hex, records and match objects. */
#ifndef GIF_NODE_API_JSON_H
#define GIF_NODE_API_JSON_H

#include <jansson.h>
#include <stdint.h>

#include "node/config.h"
#include "node/policy.h"
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
 * A match object for signal r, or for alert r (a signal it carries matched); distance < 0 for
 * exact. Sets *verdict to the policy verdict. Returns NULL for a record of another kind.
 */
json_t *api_match_json(struct store_rd *rd, const struct proto_record *r,
                       const struct node_config *cfg, int distance, uint64_t now_ms,
                       enum policy_verdict *verdict);

/* The state of the incident r (a signal or an alert) names; zeroed (id "") if none. */
void api_incident_state(struct store_rd *rd, const struct proto_record *r,
                        struct store_incident *in);
/* What the policy sees of r (a signal or an alert), as a match at distance (-1: exact). */
void api_policy_input(struct store_rd *rd, const struct proto_record *r,
                      const struct node_config *cfg, int distance, uint64_t now_ms,
                      const struct store_member *m, bool member_found, bool retracted,
                      const struct store_fb *fb, struct store_incident *inc,
                      struct policy_input *in);
/* An incident's state (GET /v1/incidents); local_matches is this node's own count. */
json_t *api_incident_json(const struct store_incident *in, uint64_t local_matches);
/* One entry of an incident's timeline: time, kind, organisation and the kind's key fields. */
json_t *api_timeline_json(struct store_rd *rd, const struct proto_record *r,
                          const struct store_rec *sr, const struct node_config *cfg);
/* api_policy_input with the origin's membership (*m, *found), the feedback and the
 * retraction state read from rd: everything the policy needs to decide for r. */
void api_policy_read(struct store_rd *rd, const struct proto_record *r,
                     const struct node_config *cfg, int distance, uint64_t now_ms,
                     struct store_member *m, bool *found, struct store_incident *inc,
                     struct policy_input *in);
/* What the policy saw of signal or alert r, as api_policy_read gave it (GET
 * /v1/policy/explain "inputs"). */
json_t *api_policy_json(const struct proto_record *r, const struct store_member *m, bool found,
                        const struct store_incident *inc, const struct policy_input *in);

#endif
