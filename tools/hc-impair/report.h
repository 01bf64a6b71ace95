/*
 * report.h - what hc-impair did, per direction: counters, queue-delay
 * percentiles, and the text and JSON renderings of them.
 *
 * Counting rules (so the numbers add up): pkts_in counts every datagram that
 * arrived for the direction, including those dropped before entering the
 * link (nobuf, oversize, noroute). Duplication adds copies. At any moment
 *   pkts_in + duplicated = pkts_out + sum(dropped) + inflight.
 * pkts_out counts datagrams handed to the kernel successfully.
 *
 * Queue delay is the time a packet spent in the rate (or trace) queue,
 * from arrival to the end of its serialisation; it is recorded only when a
 * rate or trace is configured. Percentiles come from a log-linear histogram
 * exact below 64 us and within 1/64 (1.6 %) above, reported as the upper
 * edge of the bucket (never more than the exact maximum).
 *
 * Ownership: plain structs, no allocation; formatters write into caller
 * buffers or FILE streams. Threading: none.
 */
#ifndef HC_IMPAIR_REPORT_H
#define HC_IMPAIR_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum hc_imp_drop {
    HC_IMP_DROP_LOSS,     /* random (Bernoulli) loss */
    HC_IMP_DROP_BURST,    /* Gilbert-Elliott burst loss */
    HC_IMP_DROP_QUEUE,    /* drop-tail: the rate queue was full */
    HC_IMP_DROP_OUTAGE,   /* link down */
    HC_IMP_DROP_NOBUF,    /* no free packet slot / link storage full */
    HC_IMP_DROP_OVERSIZE, /* datagram larger than a slot */
    HC_IMP_DROP_NOROUTE,  /* client table full, or client expired meanwhile */
    HC_IMP_DROP_SEND,     /* the kernel refused to send it */
    HC_IMP_DROP_N
} hc_imp_drop_t;

/* "loss", "burst", ... as used in the JSON keys. */
const char *hc_imp_drop_name(hc_imp_drop_t d);

#define HC_IMP_HIST_SUB  64
#define HC_IMP_HIST_MAXE 47 /* values >= 2^48 us are clamped */
#define HC_IMP_HIST_N    (HC_IMP_HIST_SUB + (HC_IMP_HIST_MAXE - 5) * HC_IMP_HIST_SUB)

typedef struct hc_imp_hist {
    uint64_t n;
    uint64_t max;
    uint64_t b[HC_IMP_HIST_N];
} hc_imp_hist_t;

void hc_imp_hist_add(hc_imp_hist_t *h, uint64_t v);
/* Smallest bucket edge with at least q (0..1) of the samples at or below it,
 * capped at the maximum; 0 when empty. */
uint64_t hc_imp_hist_quantile(const hc_imp_hist_t *h, double q);

typedef struct hc_imp_stats {
    uint64_t pkts_in, bytes_in;
    uint64_t pkts_out, bytes_out;
    uint64_t drop[HC_IMP_DROP_N];
    uint64_t duplicated; /* extra copies made */
    uint64_t reordered;  /* packets held back that later packets overtook */
    hc_imp_hist_t qdelay_us;
} hc_imp_stats_t;

uint64_t hc_imp_stats_dropped(const hc_imp_stats_t *s);

/* One report of the whole emulator. */
typedef struct hc_imp_report {
    double elapsed_s;
    uint64_t seed;
    uint32_t clients;             /* clients in the table now */
    uint32_t rebinds;             /* rebind steps executed */
    const hc_imp_stats_t *dir[2]; /* [0] up, [1] down */
    uint64_t inflight[2];
} hc_imp_report_t;

/* One line of JSON {"impair":{...,"up":{...},"down":{...}}} without newline.
 * Returns the length written, or -HC_ENOSPC. */
int hc_imp_report_json(const hc_imp_report_t *r, char *buf, size_t cap);
/* Human-readable lines for both directions. */
void hc_imp_report_text(const hc_imp_report_t *r, FILE *f);

#endif
