/*
 * ssrcmap.h - fixed-capacity hash table from a 64-bit key (an SSRC, or an
 * SSRC qualified by its leg) to a 32-bit value, for the router's per-packet
 * lookup.
 *
 * Every datagram the relay receives is routed by the SSRC in its clear
 * header (RFC 3550 section 5.1 for RTP, 6.4 for RTCP; both stay clear under
 * SRTP, RFC 3711 section 3), before anything is known about the sender, so
 * the lookup must be cheap for unknown keys too and must not let a remote
 * sender make it slow: open addressing with linear probing, a load factor
 * of at most 1/2 and a per-table seed mixed into the hash, so nobody can
 * aim keys at one run of slots without knowing the seed.
 * Deletion shifts later entries back (no tombstones), so the table never
 * degrades however many adds and removes it sees.
 *
 * Ownership: hc_ssrcmap_init() allocates the slot array once (control
 * path); get/put/del never allocate. hc_ssrcmap_fini() frees it.
 * Threading: one thread (the worker that owns the router).
 */
#ifndef HC_CORE_SSRCMAP_H
#define HC_CORE_SSRCMAP_H

#include <stdbool.h>
#include <stdint.h>

typedef struct hc_ssrcmap_slot {
    uint64_t key;
    uint32_t val;
    uint32_t used; /* 0: empty */
} hc_ssrcmap_slot_t;

typedef struct hc_ssrcmap {
    hc_ssrcmap_slot_t *slot; /* private */
    uint32_t mask;           /* slots - 1 */
    uint32_t n;              /* entries */
    uint32_t max;            /* entries allowed (half the slots at most) */
    uint32_t seed;
} hc_ssrcmap_t;

/* Room for max_entries (>= 1) keys. Returns 0, -HC_EINVAL or -HC_ENOMEM. */
int hc_ssrcmap_init(hc_ssrcmap_t *m, uint32_t max_entries, uint32_t seed);
/* Free the slots; safe on a zeroed or finished map. */
void hc_ssrcmap_fini(hc_ssrcmap_t *m);

/* 0, -HC_EEXIST (key present, value unchanged) or -HC_EFULL. */
int hc_ssrcmap_put(hc_ssrcmap_t *m, uint64_t key, uint32_t val);
/* true and *val when present. */
bool hc_ssrcmap_get(const hc_ssrcmap_t *m, uint64_t key, uint32_t *val);
/* 0 or -HC_ENOTFOUND. */
int hc_ssrcmap_del(hc_ssrcmap_t *m, uint64_t key);

#endif
