/*
 * The in-memory PDQ similarity index: every live pdq signal's hash and record id, answering
 * "which hashes lie within Hamming distance d of q". Built from the store at start
 * (store_pdq_each) and kept current by the node as records are accepted and retracted.
 *
 * This version is a linear scan with hardware popcount, correct for any radius 0..256.
 * Not thread-safe: one thread owns it (the node's loop).
 */
#ifndef GIF_STORAGE_PDQ_H
#define GIF_STORAGE_PDQ_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/record.h"

struct store_pdq;

struct store_pdq_hit {
    uint8_t id[PROTO_ID_LEN];
    uint8_t hash[32];
    int distance;
};

int store_pdq_new(struct store_pdq **out);
void store_pdq_free(struct store_pdq *x);
/* Adds (hash, id) in O(1) amortised. The caller adds each record once (the node applies each
 * feed position once); a repeated pair is stored twice. Returns 0 or -ENOMEM. */
int store_pdq_add(struct store_pdq *x, const uint8_t hash[static 32],
                  const uint8_t id[static PROTO_ID_LEN]);
/* Removes every entry with this id; returns how many were removed. */
size_t store_pdq_remove(struct store_pdq *x, const uint8_t id[static PROTO_ID_LEN]);
size_t store_pdq_count(const struct store_pdq *x);
/*
 * Finds entries within max_distance of q. Writes up to max hits, nearest first (ties by id),
 * and returns the total number within the radius (which may exceed max).
 */
size_t store_pdq_query(const struct store_pdq *x, const uint8_t q[static 32], int max_distance,
                       struct store_pdq_hit *hits, size_t max);
/* Hamming distance of two 256-bit hashes. */
int store_pdq_distance(const uint8_t a[static 32], const uint8_t b[static 32]);

#endif
