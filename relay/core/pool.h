/*
 * pool.h - fixed pool of packet buffers for the hot path.
 *
 * A worker allocates its pool once at start (hc_pool_init) and from then on
 * every received or generated datagram lives in an hc_pkt_t taken from it,
 * so the steady state never calls malloc. When the pool is empty
 * hc_pool_get() returns NULL and the caller drops the packet and counts it
 * (the pool counts `exhausted` too); nothing ever waits for a buffer.
 *
 * Layout: one cache-line aligned block holds the n packet headers followed
 * by the n data buffers of HC_PKT_CAP bytes each (2048: a 1500-byte datagram
 * plus the SRTP trailer of RFC 7714 section 7 and room to insert the RTX
 * OSN of RFC 4588 section 4). Every buffer starts on a cache line.
 *
 * Ownership: the pool owns the block; hc_pool_get() lends a packet to the
 * caller until it hands it back with hc_pool_put() to the SAME pool. The
 * intrusive `next` is free for the current holder to chain packets (queues,
 * batches); the pool uses it only while the packet is free.
 * Threading: single-thread owned (one pool per worker), no locks. A packet
 * may travel to another thread, but must come back to the owner thread to
 * be put.
 */
#ifndef HC_CORE_POOL_H
#define HC_CORE_POOL_H

#include "relay/core/addr.h"

#include <stdint.h>

#define HC_PKT_CAP 2048u

typedef struct hc_pkt {
    struct hc_pkt *next; /* free for the holder's lists */
    uint8_t *data;       /* HC_PKT_CAP bytes, fixed for the packet's life */
    uint32_t len;        /* bytes of data in use */
    uint32_t cap;        /* == HC_PKT_CAP */
    uint32_t flags;      /* the holder's; zeroed by hc_pool_get() */
    uint32_t pool_free;  /* private: nonzero while in the free list */
    uint64_t rx_us;      /* receive time (hc_now_us clock), 0 if generated */
    hc_addr_t peer;      /* source on receive, destination on send */
} hc_pkt_t;

typedef struct hc_pool {
    void *block;     /* private: the one allocation */
    hc_pkt_t *pkts;  /* private: n headers */
    hc_pkt_t *free;  /* private: free list */
    uint32_t n;      /* capacity */
    uint32_t in_use; /* packets currently lent out */
    uint32_t high_water;
    uint64_t exhausted; /* hc_pool_get() calls that found the pool empty */
} hc_pool_t;

/* Allocate n packets (n >= 1). Returns 0, -HC_EINVAL, or -HC_ENOMEM. */
int hc_pool_init(hc_pool_t *p, uint32_t n);

/* Free the block. Packets still lent out become invalid. Safe on a pool
 * whose init failed or that is already finished (zeroed). */
void hc_pool_fini(hc_pool_t *p);

/* Take a packet: len, flags, rx_us and next zeroed, peer unset.
 * NULL when the pool is empty (counted in p->exhausted). O(1). */
static inline hc_pkt_t *hc_pool_get(hc_pool_t *p)
{
    hc_pkt_t *pkt = p->free;
    if (!pkt) {
        p->exhausted++;
        return NULL;
    }
    p->free = pkt->next;
    pkt->next = NULL;
    pkt->len = 0;
    pkt->flags = 0;
    pkt->pool_free = 0;
    pkt->rx_us = 0;
    pkt->peer.len = 0;
    if (++p->in_use > p->high_water) p->high_water = p->in_use;
    return pkt;
}

/* Give a packet back (NULL is ignored). Putting a packet twice or into
 * another pool is a programmer error (assert). O(1). */
void hc_pool_put(hc_pool_t *p, hc_pkt_t *pkt);

/* Give back a chain linked through `next`; returns how many. */
uint32_t hc_pool_put_chain(hc_pool_t *p, hc_pkt_t *head);

/* Packets available right now. */
static inline uint32_t hc_pool_avail(const hc_pool_t *p)
{
    return p->n - p->in_use;
}

#endif
