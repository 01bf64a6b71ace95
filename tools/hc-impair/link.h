/*
 * link.h - one direction of the hc-impair link emulator.
 *
 * A link takes datagrams (as pool slots) at given times and says when each
 * leaves. Time is a parameter (microseconds on any monotonic clock), so the
 * whole pipeline runs in simulated time in the unit tests and in real time in
 * the proxy. Stages, in this order:
 *
 *   1. outage       link down: the datagram is dropped (cause "outage")
 *   2. loss         Bernoulli loss (cause "loss")
 *   3. burst loss   Gilbert-Elliott: per packet the state moves first
 *                   (good->bad with p, bad->good with r), then the packet is
 *                   lost with 1-k in good, 1-h in bad (cause "burst")
 *   4. dup          a copy follows the original through the rest
 *   5. queue        with rate=R: a FIFO served at R bit/s; with a trace: at
 *                   each delivery opportunity 1500*scale bytes of the head of
 *                   the queue leave (a packet may span opportunities, unused
 *                   bytes of an opportunity are lost, and an opportunity
 *                   serves only packets that arrived before it, as in
 *                   Mahimahi's mm-link).
 *                   Drop-tail when the bytes queued (including the packet in
 *                   service) plus the new packet exceed the limit; an empty
 *                   queue always takes a packet (cause "queue"). A rate change
 *                   applies from the packet at the head of the queue.
 *   6. delay        departure + delay + jitter, but never before the packet
 *                   ahead of it (jitter does not reorder)
 *   7. reorder      a chosen packet is held back until reorder_gap later
 *                   packets have left or reorder_delay has passed
 *   A packet that leaves the queue, or would leave the link, while an outage
 *   lasts is dropped too: while the link is down nothing crosses it, whatever
 *   was already queued or in flight (the queue keeps draining meanwhile).
 *
 * Each random decision has its own random stream seeded from the seed, so a
 * run depends only on the packets, never on when poll runs.
 *
 * Memory: two rings of `cap` entries and a small held-back set, allocated
 * by hc_imp_link_new(); nothing per packet. When a ring is full the packet
 * is dropped as "nobuf".
 *
 * Ownership: the link takes one pool reference per submitted packet and
 * hands it to the caller with each packet from hc_imp_link_poll() (the
 * caller puts it back after sending); dropped packets are put back by the
 * link. With pool == NULL slots are opaque numbers and no references are
 * taken (handy in tests). The link borrows spec->trace (see spec.h).
 * Threading: one thread per link.
 */
#ifndef HC_IMPAIR_LINK_H
#define HC_IMPAIR_LINK_H

#include "tools/hc-impair/pool.h"
#include "tools/hc-impair/report.h"
#include "tools/hc-impair/spec.h"

#include <stddef.h>
#include <stdint.h>

typedef struct hc_imp_link hc_imp_link_t;

/* Default drop-tail limit when none is given: time at the current rate. */
#define HC_IMP_DEFAULT_QUEUE_US         300000
#define HC_IMP_DEFAULT_REORDER_GAP      3
#define HC_IMP_DEFAULT_REORDER_DELAY_US 100000
/* Most packets held back for reordering at once; beyond it none are held. */
#define HC_IMP_HELD_MAX 64

typedef struct hc_imp_pkt {
    uint32_t slot;
    uint32_t len;
    uint64_t t_in;  /* arrival time */
    uint64_t t_out; /* time it leaves the link */
} hc_imp_pkt_t;

/* cap: entries per ring (rounded up to a power of two). now: link start time
 * (a trace given later starts at the time it is applied). */
int hc_imp_link_new(hc_imp_link_t **out, size_t cap, uint64_t seed, hc_imp_pool_t *pool,
                    uint64_t now);
/* Frees the link and puts back every packet still inside it. */
void hc_imp_link_destroy(hc_imp_link_t **l);

/* Apply the keys set in spec from time now (now must not go backwards). */
void hc_imp_link_apply(hc_imp_link_t *l, const hc_imp_spec_t *spec, uint64_t now);

/* A datagram arrives. Returns 1 if it entered the link, 0 if dropped (the
 * link then put its reference back). */
int hc_imp_link_submit(hc_imp_link_t *l, uint64_t now, uint32_t slot, uint32_t len);

/* Next packet whose exit time is <= now: 1 and *out filled (t_out is its exact
 * exit time, maybe earlier than now), or 0 when none is due. */
int hc_imp_link_poll(hc_imp_link_t *l, uint64_t now, hc_imp_pkt_t *out);

/* Earliest time something can leave or change inside the link; UINT64_MAX
 * when it is empty. Wake up then and poll. */
uint64_t hc_imp_link_next(const hc_imp_link_t *l);

/* Counters; the proxy adds its own drops (nobuf, oversize, noroute, send)
 * through the mutable pointer. */
hc_imp_stats_t *hc_imp_link_stats(hc_imp_link_t *l);
uint64_t hc_imp_link_inflight(const hc_imp_link_t *l);
uint64_t hc_imp_link_queue_bytes(const hc_imp_link_t *l);
/* Current drop-tail limit in bytes (0 when there is no rate or trace). */
uint64_t hc_imp_link_queue_limit(const hc_imp_link_t *l);
/* True while an outage covers time t. */
int hc_imp_link_down(const hc_imp_link_t *l, uint64_t t);

#endif
