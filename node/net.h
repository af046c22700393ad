/*
 * The consortium network: peer links over TLS 1.3 (node/tls.c), framed peer messages
 * (protocol/peer.c), anti-entropy by version vectors, and push of every newly accepted record.
 * Loop thread only. Rules in docs/protocol.md ("Peer protocol") and docs/network.md.
 */
#ifndef GIF_NODE_NET_H
#define GIF_NODE_NET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct node;
struct proto_record;

/* Starts the peer listener and dials the configured seeds. Without a certificate the network
 * stays off (logged) and the node serves its API alone. Returns 0 or a negative code with a
 * sentence in err. */
int net_start(struct node *n, char *err, size_t errlen);
/* Closes the listener, every link and timer; handles finish closing as the loop runs. */
void net_stop(struct node *n);
/* Frees what net_start kept; after the loop has run out. */
void net_free(struct node *n);
/* Pushes a record just accepted into the store to every ready peer but skip (the link it came
 * from, or NULL). urgent records (alerts, revocations) overtake queued bulk traffic. */
void net_push(struct node *n, const struct proto_record *r, const uint8_t *rec, size_t len,
              const void *skip, bool urgent);
/* True (once) when r was already forwarded on receipt (cut-through): the feed applier then
 * does not push it again. */
bool net_forwarded(struct node *n, const struct proto_record *r);
/* Dials addresses that current members advertise in their membership records (bounded):
 * at start and whenever a membership record is accepted. */
void net_learn_addresses(struct node *n);
/* A revocation of key was accepted: close links with that key. */
void net_revoked(struct node *n, const uint8_t key[32]);
/* Links ready now. */
size_t net_ready_count(struct node *n);
/* Fills out with the counters of up to max ready links (for /metrics); returns how many. */
struct metrics_peer;
size_t net_metrics_peers(struct node *n, struct metrics_peer *out, size_t max);
/* The peers of GET /v1/peers (a new reference). */
json_t *net_peers_json(struct node *n);

#endif
