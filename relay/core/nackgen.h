/*
 * nackgen.h - which RTP packets of one stream are missing, and when to ask
 * for them (again) with a generic NACK.
 *
 * A receiver of a stream (the relay for every published stream, the edge
 * for every track it plays) feeds the sequence number of each packet that
 * arrives. A jump forward adds the skipped numbers to a missing list; a
 * late packet or an RFC 4588 retransmission that fills one removes it.
 * hc_nackgen_collect() says which missing numbers to put in a generic NACK
 * (RFC 4585 section 6.2.1) now: a number is asked for at once when found
 * missing, then again every retry interval while it stays missing, until
 * it has been asked for max_retries times or is older than max_age; then
 * it is given up (the receiver's other tools, a keyframe request or FEC,
 * take over).
 *
 * Retry interval: max(RTT, 20 ms) plus a quarter of that, so a retransmission
 * that is on its way is not asked for again; 20 ms keeps a LAN from being
 * flooded; before any RTT is known, HC_NACKGEN_DEFAULT_RTT_US is assumed.
 *
 * Limits: the list holds at most `cap` numbers (the oldest are given up
 * when more go missing at once); a jump of HC_NACKGEN_MAX_JUMP or more is
 * taken as a restart of the sender's numbering (RFC 3550 A.1 MAX_DROPOUT),
 * so nothing is asked for and the list starts again.
 *
 * Time is a parameter in microseconds (any monotonic clock).
 * Ownership: the caller provides the entry array (cap entries) and keeps it
 * while the generator is used; nothing here allocates.
 * Threading: one thread.
 */
#ifndef HC_CORE_NACKGEN_H
#define HC_CORE_NACKGEN_H

#include "proto/seq.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HC_NACKGEN_DEFAULT_RTT_US 100000u
#define HC_NACKGEN_MIN_RTT_US     20000u
#define HC_NACKGEN_MAX_JUMP       3000

typedef struct hc_nackgen_entry {
    uint64_t first_us; /* found missing */
    uint64_t sent_us;  /* last asked for; 0 never */
    uint16_t seq;
    uint8_t retries; /* times asked for */
    uint8_t live;    /* 0: filled or given up, waiting to be compacted */
} hc_nackgen_entry_t;

typedef struct hc_nackgen {
    hc_nackgen_entry_t *e; /* private: ring of cap entries in sequence order */
    uint32_t cap, head, n; /* private */
    uint32_t live;         /* numbers currently missing */
    hc_seq_unwrap_t uw;    /* private */
    int64_t highest;       /* highest extended seq seen */
    bool started;
    uint32_t max_retries;
    uint64_t max_age_us;
    /* counters */
    uint64_t missing;   /* numbers found missing */
    uint64_t recovered; /* of those, arrived later */
    uint64_t given_up;  /* of those, dropped (retries, age, overflow, restart) */
    uint64_t requests;  /* numbers returned by collect, retries included */
} hc_nackgen_t;

/* What on_packet learned about a packet that filled a hole. */
typedef struct hc_nackgen_fill {
    bool recovered;   /* it was on the missing list */
    uint8_t retries;  /* times it had been asked for */
    uint64_t sent_us; /* when it was last asked for (0: never) */
} hc_nackgen_fill_t;

/* entries[cap] (cap >= 1) is the caller's storage. max_retries >= 1. */
void hc_nackgen_init(hc_nackgen_t *g, hc_nackgen_entry_t *entries, uint32_t cap,
                     uint32_t max_retries, uint64_t max_age_us);
/* Forget everything (numbering starts again with the next packet). */
void hc_nackgen_reset(hc_nackgen_t *g);

/* One packet arrived. Returns how many numbers were newly found missing
 * (0 for in-order, late, duplicate and restarting packets). *fill (may be
 * NULL) says whether it filled a hole. */
int hc_nackgen_on_packet(hc_nackgen_t *g, uint16_t seq, uint64_t now_us, hc_nackgen_fill_t *fill);

/* Numbers to ask for now, oldest first, at most max (the rest stay due):
 * each returned number counts as asked for at now_us. Numbers past their
 * retries or age are given up. rtt_us 0 = unknown. Returns the count. */
size_t hc_nackgen_collect(hc_nackgen_t *g, uint64_t now_us, uint32_t rtt_us, uint16_t *out,
                          size_t max);

/* When collect next has something to do (a number due or to give up):
 * an absolute time, <= now when already due, UINT64_MAX when nothing is
 * missing. */
uint64_t hc_nackgen_next_due(const hc_nackgen_t *g, uint32_t rtt_us);

/* The retry interval for an RTT (see the top of the file). */
uint64_t hc_nackgen_retry_us(uint32_t rtt_us);

#endif
