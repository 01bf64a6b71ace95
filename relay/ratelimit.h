/*
 * ratelimit.h - the signaling server's abuse limits as small, testable
 * pieces: a token bucket (messages per second per connection) and a table
 * counting open connections per source address.
 *
 * Token bucket: `rate` tokens per second up to `burst`; each message takes
 * one. Integer arithmetic in thousandths of a token, so no drift and no
 * floating point.
 *
 * Address table: counts connections per IP address (the port is ignored),
 * at most `capacity` distinct addresses, allocated at new; an address
 * whose count drops to 0 leaves the table, so it cannot grow without bound.
 * The hash is seeded per table so a client cannot aim addresses at one
 * bucket.
 *
 * Ownership: hc_rate_t is a plain value; hc_iptable_new() allocates the
 * table, hc_iptable_destroy() frees it.
 * Threading: none; the signaling server uses both on its own thread.
 */
#ifndef HC_RELAY_RATELIMIT_H
#define HC_RELAY_RATELIMIT_H

#include "relay/core/addr.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct hc_rate {
    uint32_t rate, burst; /* tokens per second, bucket size */
    uint64_t milli;       /* tokens held, in thousandths */
    uint64_t last_us;     /* time of the last refill */
} hc_rate_t;

/* A full bucket at now_us. rate 0 means unlimited. */
void hc_rate_init(hc_rate_t *b, uint32_t rate, uint32_t burst, uint64_t now_us);
/* Take one token: true, or false when the bucket is empty. */
bool hc_rate_take(hc_rate_t *b, uint64_t now_us);

typedef struct hc_iptable hc_iptable_t;

/* 0, -HC_EINVAL (capacity 0), -HC_ENOMEM. */
int hc_iptable_new(hc_iptable_t **out, uint32_t capacity, uint32_t seed);
void hc_iptable_destroy(hc_iptable_t **t);

/* Count one more connection from a's address unless it already has
 * `limit`: 0, -HC_ERANGE (at the limit), -HC_EFULL (table full). */
int hc_iptable_add(hc_iptable_t *t, const hc_addr_t *a, uint32_t limit);
/* One connection from a's address ended. No-op for an unknown address. */
void hc_iptable_remove(hc_iptable_t *t, const hc_addr_t *a);
/* Open connections from a's address. */
uint32_t hc_iptable_count(const hc_iptable_t *t, const hc_addr_t *a);
/* Distinct addresses in the table. */
uint32_t hc_iptable_size(const hc_iptable_t *t);

#endif
