/*
 * rxstats.h - per-source RTP receiver statistics for RTCP receiver reports.
 *
 * Every receiving leg (relay ingest, edge playback, relay-to-relay) keeps one
 * of these per SSRC and feeds it each packet; the RTCP module turns the
 * report into a report block (RFC 3550 §6.4.1: fraction lost, cumulative
 * number of packets lost, extended highest sequence number received,
 * interarrival jitter), and the console shows the same numbers.
 *
 * Follows RFC 3550:
 *   A.1  sequence validation: a new source is on probation until
 *        MIN_SEQUENTIAL (2) packets in sequence arrive; gaps below
 *        MAX_DROPOUT (3000) are accepted, packets up to MAX_MISORDER (100)
 *        behind are late/duplicate packets; any other jump is a "bad"
 *        sequence number, and two consecutive bad ones mean the sender
 *        restarted, so the state resyncs to the new numbering.
 *   A.3  expected / lost / fraction lost since the previous report; the
 *        cumulative loss is clamped to the 24-bit signed field.
 *   A.8  interarrival jitter, kept scaled by 16 in integers as the RFC's
 *        second form does, reported in RTP timestamp units.
 * Arrival times are a parameter (microseconds, any monotonic epoch); they
 * are converted to RTP clock units with the clock rate given at init.
 *
 * Duplicates count as received (A.3), so cumulative loss can be negative.
 * Jitter is updated by every counted packet after the first; a resync starts
 * the transit-time baseline again (the new numbering has new timestamps).
 *
 * Ownership: plain value, no pointers. Threading: one stream's state; not
 * thread-safe.
 */
#ifndef HC_PROTO_RXSTATS_H
#define HC_PROTO_RXSTATS_H

#include <stdbool.h>
#include <stdint.h>

#define HC_RXSTATS_MIN_SEQUENTIAL 2
#define HC_RXSTATS_MAX_DROPOUT    3000
#define HC_RXSTATS_MAX_MISORDER   100

typedef struct hc_rxstats {
    uint32_t clock_rate; /* RTP clock, Hz */
    bool started;        /* a first packet has been seen */
    uint16_t max_seq;    /* highest sequence number seen */
    uint64_t cycles;     /* shifted count of sequence number wraps (k * 65536) */
    uint64_t base_seq;   /* first sequence number counted */
    uint32_t bad_seq;    /* last "bad" sequence number + 1; 65537 when none */
    uint32_t probation;  /* sequential packets still needed */
    uint64_t received;
    uint64_t expected_prior;
    uint64_t received_prior;
    bool have_transit;
    uint32_t transit;   /* relative transit time of the previous packet */
    uint64_t jitter_q4; /* jitter * 16 (A.8); 64 bits so huge jumps cannot wrap */
} hc_rxstats_t;

typedef struct hc_rxstats_report {
    uint8_t fraction_lost;    /* lost/expected since the last report, * 256 */
    int32_t cumulative_lost;  /* clamped to [-0x800000, 0x7fffff] */
    uint32_t ext_highest_seq; /* cycles (high 16 bits) and max_seq */
    uint32_t jitter;          /* RTP timestamp units */
    uint64_t expected;        /* since the source became valid (or resynced) */
    uint64_t received;
} hc_rxstats_report_t;

/* Reset for a new source. Returns 0, or -HC_EINVAL when st is NULL or the
 * clock rate is 0. */
int hc_rxstats_init(hc_rxstats_t *st, uint32_t clock_rate);

/* Account one packet. Returns 1 when it counts as valid, 0 while the source
 * is on probation or for a bad sequence number (the packet should not be
 * used), -HC_EINVAL for NULL or an uninitialised state. */
int hc_rxstats_update(hc_rxstats_t *st, uint16_t seq, uint32_t rtp_ts, uint64_t arrival_us);

/* Fill *out for a receiver report and start a new reporting interval (the
 * "prior" counters of A.3 advance). Returns 0, -HC_EINVAL, or -HC_EAGAIN
 * (out zeroed) while no packet has been counted yet: no report block
 * should be sent for the source. */
int hc_rxstats_report(hc_rxstats_t *st, hc_rxstats_report_t *out);

/* Same numbers without advancing the interval (for metrics and logs). */
int hc_rxstats_peek(const hc_rxstats_t *st, hc_rxstats_report_t *out);

#endif
