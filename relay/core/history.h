/*
 * history.h - recent RTP packets of one stream, by sequence number, to
 * answer NACKs.
 *
 * The relay keeps the plain (decrypted) RTP packets of every published
 * stream for a while so that a subscriber's generic NACK (RFC 4585 section
 * 6.2.1) can be answered with an RFC 4588 retransmission without going
 * back to the publisher over its weak uplink. The edge can keep its own
 * sent packets the same way.
 *
 * Layout: packets are copied into one byte ring (a 4-byte header and the
 * packet, rounded up to 4 bytes, never split across the end), and an index
 * of `packets` slots (a power of 2) maps seq & (packets - 1) to the copy.
 * A stream of small packets (Opus) is thus not charged for the 1200-byte
 * slots video needs: memory is `bytes` plus 12 bytes per slot. A packet
 * leaves the history when its index slot is taken by a newer sequence
 * number or when the ring needs its bytes, whichever comes first.
 * Sequence numbers are compared exactly (all 16 bits), so a lookup never
 * returns a packet from a previous wrap of the sequence space.
 *
 * Time: arrival is a parameter in microseconds (any monotonic clock) and is
 * kept in milliseconds modulo 2^32 (49 days), which is plenty for ages of a
 * few seconds.
 *
 * Ownership: hc_history_init() allocates the ring and the index (control
 * path); put/get never allocate; get returns a pointer into the ring, valid
 * until the next put or clear. hc_history_fini() frees everything.
 * Threading: one thread.
 */
#ifndef HC_CORE_HISTORY_H
#define HC_CORE_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest packet a history stores. */
#define HC_HISTORY_MAX_PKT 0xfffe

typedef struct hc_history_slot {
    uint32_t off; /* offset of the packet (after its ring header) */
    uint16_t seq;
    uint16_t len; /* 0: empty */
    uint32_t t_ms;
} hc_history_slot_t;

typedef struct hc_history {
    hc_history_slot_t *slot; /* private */
    uint8_t *buf;            /* private */
    uint32_t mask;           /* index slots - 1 */
    uint32_t cap;            /* ring bytes, a multiple of 4 */
    uint32_t rd, wr, used;   /* private: oldest copy, next write, bytes in use */
    uint64_t stored;         /* packets put */
    uint64_t evicted;        /* packets dropped for ring space while still indexed */
} hc_history_t;

/* packets: index slots, a power of 2 >= 1; bytes: ring size (rounded up to
 * a multiple of 4; a packet needs len + 4 rounded up). Returns 0,
 * -HC_EINVAL or -HC_ENOMEM. */
int hc_history_init(hc_history_t *h, uint32_t packets, uint32_t bytes);
/* Free; safe on a zeroed or finished history. */
void hc_history_fini(hc_history_t *h);
/* Forget every packet. */
void hc_history_clear(hc_history_t *h);

/* Store a copy of pkt[0..len) under seq (replacing an older copy of the
 * same seq). Returns 0, -HC_EINVAL (len 0 or pkt NULL) or -HC_ENOSPC
 * (larger than the ring or HC_HISTORY_MAX_PKT: not stored). */
int hc_history_put(hc_history_t *h, uint16_t seq, const uint8_t *pkt, size_t len, uint64_t now_us);

/* The copy of seq: 0 and *pkt, *len (and *age_ms, may be NULL: now minus
 * its arrival, in ms), or -HC_ENOTFOUND. */
int hc_history_get(const hc_history_t *h, uint16_t seq, uint64_t now_us, const uint8_t **pkt,
                   size_t *len, uint32_t *age_ms);

/* Whether seq is held. */
bool hc_history_has(const hc_history_t *h, uint16_t seq);

/* Bytes allocated (ring + index), for memory accounting. */
size_t hc_history_footprint(const hc_history_t *h);

#endif
