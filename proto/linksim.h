/*
 * linksim.h - a deterministic simulated bottleneck link.
 *
 * Congestion-control tests and hc-bench need a link whose behaviour is
 * known exactly and repeatable: a sender hands it packets at simulated
 * times and it says when each one arrives at the far end, or that it was
 * dropped. It is the discrete-event counterpart of hc-impair's link (same
 * service rules, so a simulation predicts what the emulator will show):
 *
 *   1. outage      while an outage window covers the arrival time the packet
 *                  is dropped ("outage"); a packet that would leave the
 *                  queue or reach the far end inside an outage is dropped
 *                  too (nothing crosses a dead link; the queue keeps
 *                  draining meanwhile).
 *   2. loss        Bernoulli loss with a seeded generator ("loss").
 *   3. queue       drop-tail FIFO ("queue"): a packet is refused when the
 *                  bytes queued (including the one in service) plus its own
 *                  exceed the bound; an empty queue always takes a packet.
 *                  Served either
 *                    - at a rate (bit/s) given as a schedule of steps: a
 *                      packet's serialisation uses the rate in force when it
 *                      reaches the head of the queue, or
 *                    - by a Mahimahi trace (times in ms at which 1500 * scale
 *                      bytes may leave; see hc_linksim_trace_parse()): at each
 *                      opportunity that many bytes of the head of the queue
 *                      leave, a packet may span opportunities, an opportunity
 *                      serves only packets that arrived before it and unused
 *                      bytes are lost; the trace loops, shifted by its last
 *                      time, as Mahimahi's mm-link does.
 *   4. delay       fixed one-way propagation delay after the queue.
 *
 * Queuing delay of a packet is the time from its arrival to the end of its
 * serialisation (as hc-impair reports it). Every delivered packet's queuing
 * delay goes into a histogram (250 us buckets up to 4 s, exact maximum)
 * from which hc_linksim_qdelay_quantile() reads percentiles.
 *
 * Capacity accounting: hc_linksim_capacity_bytes() is what a saturated link
 * could have delivered in a time window (outage windows count as zero), so
 * delivered bytes over it is the link utilisation.
 *
 * Time is a parameter (microseconds, any epoch; it must not go backwards
 * between calls). No clocks, no I/O; the generator is per link, so a run
 * depends only on the packets and the seed.
 *
 * Ownership: hc_linksim_new() allocates all storage (the packet rings and
 * the histogram) once; nothing is allocated per packet. A trace given to
 * hc_linksim_set_trace() is borrowed and must outlive the link.
 * Threading: one thread per link.
 */
#ifndef HC_PROTO_LINKSIM_H
#define HC_PROTO_LINKSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HC_LINKSIM_MAX_STEPS      64
#define HC_LINKSIM_MAX_OUTAGES    16
#define HC_LINKSIM_OPP_BYTES      1500   /* a Mahimahi opportunity at scale 1 */
#define HC_LINKSIM_DEFAULT_QUEUE  300000 /* us at the current rate, as hc-impair */
#define HC_LINKSIM_HIST_BUCKET_US 250
#define HC_LINKSIM_HIST_BUCKETS   16000 /* 4 s; longer delays land in the last one */

typedef struct hc_linksim hc_linksim_t;

typedef struct hc_linksim_cfg {
    uint64_t delay_us;    /* one-way propagation delay */
    uint64_t queue_bytes; /* drop-tail bound in bytes; 0: use queue_us */
    uint64_t queue_us;    /* bound as time at the current rate (trace: its mean
                           * rate times scale); 0 with queue_bytes 0: default */
    double loss;          /* probability in [0, 1] */
    uint64_t seed;
    size_t capacity; /* packets inside the link at once (queue + in flight);
                      * beyond it packets are dropped as "nobuf"; 0: 8192 */
} hc_linksim_cfg_t;

typedef enum hc_linksim_drop {
    HC_LINKSIM_DROP_OUTAGE,
    HC_LINKSIM_DROP_LOSS,
    HC_LINKSIM_DROP_QUEUE,
    HC_LINKSIM_DROP_NOBUF,
    HC_LINKSIM_DROP_N
} hc_linksim_drop_t;

typedef struct hc_linksim_pkt {
    uint64_t id; /* as given to hc_linksim_send() */
    uint32_t bytes;
    uint64_t t_in;      /* when it was sent into the link */
    uint64_t t_dep;     /* end of its serialisation at the bottleneck */
    uint64_t t_out;     /* arrival at the far end: t_dep + delay */
    uint64_t qdelay_us; /* t_dep - t_in */
} hc_linksim_pkt_t;

typedef struct hc_linksim_stats {
    uint64_t pkts_in, bytes_in;   /* every packet offered */
    uint64_t pkts_out, bytes_out; /* delivered at the far end */
    uint64_t drop[HC_LINKSIM_DROP_N];
    uint64_t qdelay_max_us;
} hc_linksim_stats_t;

/* cfg NULL: all defaults (no delay, no loss, 300 ms queue, seed 1). The
 * link starts with no rate limit until a rate or trace is set. Returns 0,
 * -HC_EINVAL (loss outside [0, 1], capacity above 2^24) or -HC_ENOMEM. */
int hc_linksim_new(hc_linksim_t **out, const hc_linksim_cfg_t *cfg);
/* Frees the link and sets *l to NULL; NULL and *l NULL are fine. */
void hc_linksim_destroy(hc_linksim_t **l);

/* From at_us on, serve at bps (> 0). Steps must be given in increasing time
 * order; at most HC_LINKSIM_MAX_STEPS. Replaces a trace. Returns 0 or
 * -HC_EINVAL (bps 0, time not after the previous step) / -HC_EFULL. */
int hc_linksim_set_rate(hc_linksim_t *l, uint64_t at_us, uint64_t bps);

/* Serve by a Mahimahi trace: ms[0..n) non-decreasing opportunity times, the
 * last one (> 0) being the loop period; each opportunity carries
 * 1500 * scale bytes (at least 1). Opportunity times count from start_us.
 * Replaces any rate schedule. Borrowed: ms must outlive the link. Returns 0
 * or -HC_EINVAL. */
int hc_linksim_set_trace(hc_linksim_t *l, const uint32_t *ms, size_t n, double scale,
                         uint64_t start_us);

/* Link down during [from_us, to_us). At most HC_LINKSIM_MAX_OUTAGES.
 * Returns 0, -HC_EINVAL (empty window) or -HC_EFULL. */
int hc_linksim_add_outage(hc_linksim_t *l, uint64_t from_us, uint64_t to_us);

/* Offer a packet at now_us. Returns 1 when it entered the link, 0 when it
 * was dropped (counted by cause), -HC_EINVAL for bytes 0. */
int hc_linksim_send(hc_linksim_t *l, uint64_t now_us, uint64_t id, uint32_t bytes);

/* Next packet that has reached the far end by now_us, in order: 1 and *out
 * filled (out->t_out may be earlier than now_us), or 0 when none is due. */
int hc_linksim_poll(hc_linksim_t *l, uint64_t now_us, hc_linksim_pkt_t *out);

/* Earliest time at which something can arrive or change inside the link
 * (a delivery or a trace opportunity with packets waiting); UINT64_MAX when
 * the link is empty. Poll then. */
uint64_t hc_linksim_next(const hc_linksim_t *l);

/* Bytes a saturated link could deliver in [from_us, to_us): the integral of
 * the rate schedule, or the trace's opportunities times their size, minus
 * outage windows. With no rate set this is 0. */
uint64_t hc_linksim_capacity_bytes(const hc_linksim_t *l, uint64_t from_us, uint64_t to_us);

/* Bytes queued at the bottleneck now (including the packet in service). */
uint64_t hc_linksim_queue_bytes(const hc_linksim_t *l);

/* True while an outage covers t_us. */
bool hc_linksim_down(const hc_linksim_t *l, uint64_t t_us);

void hc_linksim_stats(const hc_linksim_t *l, hc_linksim_stats_t *out);

/* Queuing-delay quantile (q in [0, 1]) over delivered packets: the upper
 * edge of the 250 us bucket holding it, capped at the exact maximum; 0 when
 * nothing was delivered. */
uint64_t hc_linksim_qdelay_quantile(const hc_linksim_t *l, double q);

/* Parse Mahimahi trace text (one decimal millisecond time per line,
 * non-decreasing, blank lines and a final line without newline allowed)
 * into ms[0..cap). With ms NULL and cap 0 only counts. Returns 0 and *n, or
 * -HC_EMALFORMED (non-digit, decreasing time, value above 2^32-1, last time
 * 0 or no lines), -HC_ENOSPC (more than cap lines), -HC_EINVAL. */
int hc_linksim_trace_parse(const char *text, size_t len, uint32_t *ms, size_t cap, size_t *n);

#endif
