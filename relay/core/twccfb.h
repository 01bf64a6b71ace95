/*
 * twccfb.h - receive side of transport-wide congestion control: records
 * when each packet with a transport-wide sequence number arrived and
 * writes the RTCP feedback that reports it.
 *
 * The sender's congestion controller (for an edge's uplink: the edge; for
 * the relay's downlinks, later: the relay) needs, for every packet it
 * stamped with the transport-wide sequence extension
 * (draft-holmer-rmcat-transport-wide-cc-extensions-01 section 2; rtpext.h
 * HC_EXT_TWCC), whether it arrived and when. The number is per transport
 * (one counter across all the sender's streams on the leg), so one
 * recorder serves a whole leg, not one stream.
 *
 * Recording: the arrival of each number in a window of `window` numbers
 * (a power of 2) after the first one not yet reported. A number older than
 * that is late and ignored (it was reported as lost already, and the
 * draft's feedback cannot take it back); when numbers run more than the
 * window ahead of the last report, the oldest unreported ones are dropped
 * unreported. Duplicates keep their first arrival.
 *
 * Feedback (section 3.1, written by proto/twcc.h): every number from the
 * first unreported one up to the highest recorded, with the reference time
 * taken from the first received packet of each feedback packet (so its
 * receive delta always fits); a feedback packet count that increments per
 * packet. The caller sends one feedback packet per call while something
 * is pending (typically every 50 ms and whenever the window fills).
 *
 * Time: arrival is a parameter in microseconds on any monotonic clock;
 * the feedback carries the 24-bit reference time modulo 2^24 (64 ms units)
 * as libwebrtc expects.
 * Ownership: the arrival array (window entries) is the caller's storage;
 * nothing here allocates. Threading: one thread.
 */
#ifndef HC_CORE_TWCCFB_H
#define HC_CORE_TWCCFB_H

#include "proto/seq.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hc_twccfb {
    uint64_t *arr;      /* private: arrival_us + 1 per number & mask, 0 = not received */
    uint32_t mask;      /* window - 1 */
    hc_seq_unwrap_t uw; /* private */
    bool started;
    int64_t base;    /* first number not yet reported */
    int64_t highest; /* highest number recorded */
    uint8_t fb_count;
    uint64_t recorded;  /* packets recorded */
    uint64_t late;      /* arrived after they were reported (or dropped unreported) */
    uint64_t dropped;   /* unreported numbers pushed out of the window */
    uint64_t feedbacks; /* feedback packets written */
} hc_twccfb_t;

/* arr[window]: window a power of 2 >= 16. */
void hc_twccfb_init(hc_twccfb_t *t, uint64_t *arr, uint32_t window);

/* A packet carrying transport-wide number seq arrived at arrival_us. */
void hc_twccfb_record(hc_twccfb_t *t, uint16_t seq, uint64_t arrival_us);

/* Numbers waiting to be reported (0 when nothing). */
uint32_t hc_twccfb_pending(const hc_twccfb_t *t);

/* Write one complete RTCP transport-wide CC feedback packet (RTPFB FMT 15,
 * RFC 4585 section 6.1 header) into buf for as many pending numbers as fit
 * cap, and mark them reported. Returns bytes written, 0 when nothing is
 * pending, or -HC_ENOSPC / -HC_EINVAL. *covered (may be NULL) gets the
 * numbers reported. */
int hc_twccfb_build(hc_twccfb_t *t, uint8_t *buf, size_t cap, uint32_t sender_ssrc,
                    uint32_t media_ssrc, size_t *covered);

#endif
