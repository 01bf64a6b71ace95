/*
 * bwe.h - send-side bandwidth estimation from transport-wide CC feedback.
 *
 * hc-edge sends video and audio over a 4G uplink whose capacity swings
 * between 0.3 and 4 Mbit/s, halves within a second, loses packets in
 * bursts and drops out for seconds. The relay returns transport-wide
 * feedback (twcc.h) for every packet carrying the transport-wide sequence
 * extension; this module turns that feedback into the bitrate the encoder
 * may use now, and tells the pacer when to send a probe cluster.
 *
 * Follows Google Congestion Control (draft-ietf-rmcat-gcc-02) in the form
 * libwebrtc gives it for send-side estimation, with changes for thin
 * cellular uplinks (marked "Hillcast:" here and in the code):
 *
 *   Feedback mapping    every reported sequence number is looked up in a
 *                       ring of sent records; arrival times are rebuilt
 *                       from the 24-bit reference time (unwrapped) and the
 *                       deltas, in the receiver's clock. Only differences
 *                       between the two clocks are used, never their offset.
 *   Packet groups       (§5.2) packets sent within 5 ms of a group's first
 *                       packet form one group; a packet that arrives within
 *                       5 ms of the previous one and earlier than its send
 *                       spacing implies joins the group too (a burst after
 *                       a radio stall). One-way delay variation between
 *                       consecutive groups: d = arrival delta - send delta.
 *   Trendline           (§5.3 as libwebrtc's TrendlineEstimator) the
 *                       accumulated d, exponentially smoothed (0.9), over
 *                       a window of 20 groups; least-squares slope, scaled
 *                       by min(groups, 60) x 4.
 *   Overuse detector    (§5.4) the scaled trend against an adaptive
 *                       threshold (start 12.5 ms, k_up 0.0087, k_down 0.039,
 *                       clamped 6..600 ms): overuse when above it for more
 *                       than 10 ms and two groups and not falling,
 *                       underuse below minus the threshold, else normal.
 *   Queuing delay       Hillcast: the one-way delay above its minimum over
 *                       the last 10 s (LEDBAT's base delay), the least in
 *                       each feedback, gives the standing queue, which the
 *                       gradient alone cannot see. A cellular link delivers
 *                       in bursts, so the trend swings with no queue behind
 *                       it: overuse from the trend counts only with 15 ms of
 *                       queue; 40 ms of queue is overuse whatever the trend;
 *                       underuse with an empty queue is normal.
 *   Rate control        (§5.5) states increase / hold / decrease.
 *                       Overuse: 0.85 x acknowledged rate (the lower of the
 *                       last 100 ms and 500 ms), lowered further when a
 *                       queue has built so that it drains within ~500 ms
 *                       (not below 0.3 x); once it has drained the rate goes
 *                       back to 0.9 x the rate measured while congested.
 *                       Normal with an empty queue: multiplicative increase
 *                       (8 %/s; 30 %/s when the queue has been empty and no
 *                       overuse seen for 0.5 s) far from the last congestion
 *                       point, additive (about half a packet per response
 *                       time) near it; never above 1.5 x acknowledged +
 *                       10 kbit/s. Hillcast: normal with a small queue
 *                       (3-25 ms): the link is busy, so the acknowledged
 *                       rate is its capacity now, and the estimate follows
 *                       it up and down. No increase above 25 ms.
 *   Probing             (libwebrtc's ProbeController) because additive
 *                       increase needs ~9 s to climb back from a halving,
 *                       hc_bwe_probe_wanted() asks for short clusters at a
 *                       higher rate: at start (3 x the start rate, then 2 x
 *                       each result while probes come back whole), and every
 *                       1.5 s while the path is quiet (2 x target; no
 *                       decrease for 1 s, queue under 20 ms, no congestive
 *                       loss, the encoder using >= 60 % of the target). The
 *                       delivery rate of a cluster (ProbeBitrateEstimator:
 *                       min of send and receive rate, 0.95 x receive rate
 *                       when it fell below 0.9 x send rate) becomes the
 *                       estimate when it is higher.
 *   Loss                (§6) loss of the packets sent in the last second -
 *                       only those sent after the last decrease, since the
 *                       loss of packets sent at a rate already given up is
 *                       old news - bounds the target (TWCC; the RR fraction
 *                       lost when no TWCC feedback came for a second).
 *                       Hillcast: a loss counts as congestion when packets
 *                       of the same feedback waited more than 50 ms (a
 *                       drop-tail queue loses when it is full); then GCC's
 *                       rule: < 2 % grow 8 %/s, 2-10 % hold, > 10 % cut by
 *                       (1 - 0.5 x loss) per RTT + 300 ms. Otherwise it is
 *                       random loss on the radio, which NACK/RTX and FEC
 *                       repair and which does not fall when the rate does:
 *                       < 10 % no effect, 10-15 % hold at the delay-based
 *                       estimate, > 15 % that estimate x (1 - 0.5 x loss),
 *                       never compounding. The delay-based side also sends
 *                       acked / (1 - random loss), since that much is lost
 *                       whatever the rate.
 *   Outage              Hillcast: no feedback for 1 s while packets are
 *                       outstanding: the target holds for another second,
 *                       then decays towards 30 % of its value before the
 *                       outage (halving every 2 s). Packets sent meanwhile
 *                       do not count as loss. The first feedback after the
 *                       outage restores the larger of the target and the
 *                       delivery rate before it: the link came back, it did
 *                       not become a new one (the delay signals correct
 *                       the rate within a round trip if it did).
 *
 * Time is a parameter (microseconds, any monotonic epoch, below 2^62).
 * Call hc_bwe_tick() at least every 200 ms; hc_bwe_target_bps() is then
 * current (feedback updates it too).
 *
 * Ownership: hc_bwe_new() allocates the sent-record ring once; nothing is
 * allocated afterwards. No pointer into caller data is kept.
 * Threading: one estimator per sending leg; not thread-safe.
 */
#ifndef HC_PROTO_BWE_H
#define HC_PROTO_BWE_H

#include "proto/twcc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Probe clusters: rate x duration bytes, at least this many packets. */
#define HC_BWE_PROBE_US       30000
#define HC_BWE_PROBE_MIN_PKTS 5

typedef enum hc_bwe_usage {
    HC_BWE_NORMAL,
    HC_BWE_UNDERUSE,
    HC_BWE_OVERUSE,
} hc_bwe_usage_t;

typedef struct hc_bwe_cfg {
    uint32_t min_bps;   /* floor of the target; 0: 50 kbit/s */
    uint32_t max_bps;   /* ceiling; 0: 10 Mbit/s */
    uint32_t start_bps; /* until feedback says otherwise; 0: 300 kbit/s */
    size_t history;     /* sent records kept (rounded up to a power of two,
                         * at least 256, at most 65536); 0: 8192 */
} hc_bwe_cfg_t;

typedef struct hc_bwe_state {
    uint32_t target_bps;
    uint32_t delay_bps; /* delay-based estimate */
    uint32_t loss_bps;  /* loss-based bound (max_bps when it does not limit) */
    uint32_t acked_bps; /* delivery rate acknowledged by feedback (500 ms) */
    uint32_t probe_bps; /* last probe result; 0 before any */
    hc_bwe_usage_t usage;
    double trend_ms;     /* modified trend, compared with the threshold */
    double threshold_ms; /* adaptive threshold */
    uint32_t qdelay_us;  /* queuing delay estimate */
    double loss;         /* fraction lost over the last second */
    bool loss_congestive;
    uint32_t rtt_us;
    bool outage;
    uint64_t feedbacks;    /* feedback messages processed */
    uint64_t unknown;      /* reported sequence numbers with no sent record */
    uint64_t probes;       /* clusters asked for */
    uint64_t probes_valid; /* clusters that gave a result */
    uint64_t overuses;     /* decreases for delay */
} hc_bwe_state_t;

typedef struct hc_bwe hc_bwe_t;

/* Fill cfg with the defaults. */
void hc_bwe_cfg_default(hc_bwe_cfg_t *cfg);

/* cfg NULL: defaults; zero fields take their default. Returns 0,
 * -HC_EINVAL (min > max, start outside [min, max] after defaults) or
 * -HC_ENOMEM. */
int hc_bwe_new(hc_bwe_t **out, const hc_bwe_cfg_t *cfg, uint64_t now_us);
void hc_bwe_destroy(hc_bwe_t **b);

/* A packet carrying transport-wide sequence number twcc_seq left at
 * send_us with bytes on the wire (headers included); probe when the pacer
 * sent it in a probe cluster. */
void hc_bwe_on_sent(hc_bwe_t *b, uint16_t twcc_seq, size_t bytes, uint64_t send_us, bool probe);

/* One parsed transport-wide feedback (hc_twcc_parse()), received at now_us.
 * Returns the number of reported packets matched to sent records, or
 * -HC_EINVAL for NULL arguments (pkts may be NULL when n is 0) or n above
 * INT32_MAX. Reports of unknown sequence numbers are counted and ignored,
 * repeated ones ignored (bad input is data). */
int hc_bwe_on_feedback(hc_bwe_t *b, const hc_twcc_fb_t *hdr, const hc_twcc_pkt_t *pkts, size_t n,
                       uint64_t now_us);

/* Round-trip time from RTCP (RFC 3550 §6.4.1 LSR/DLSR). */
void hc_bwe_on_rtt(hc_bwe_t *b, uint32_t rtt_us);

/* Fraction lost from an RTCP receiver report (RFC 3550 §6.4.1, x 256),
 * covering `packets` expected packets (0: ignored). Used for the loss bound
 * while no transport-wide feedback has come for a second (e.g. a stream
 * sent without the extension); kept for 5 s. */
void hc_bwe_on_rr_loss(hc_bwe_t *b, uint8_t fraction_lost, uint32_t packets, uint64_t now_us);

/* Time passes: outage detection and decay, the loss bound's growth. */
void hc_bwe_tick(hc_bwe_t *b, uint64_t now_us);

/* True when a probe cluster should start now at *rate_bps (send
 * rate x HC_BWE_PROBE_US bytes, at least HC_BWE_PROBE_MIN_PKTS packets,
 * e.g. with hc_pacer_probe(), and flag those packets probe). */
bool hc_bwe_probe_wanted(hc_bwe_t *b, uint64_t now_us, uint32_t *rate_bps);

/* Ask for one probe cluster at rate_bps (e.g. a relay that wants to know
 * whether a subscriber's downlink carries the next simulcast layer while
 * it sends only the lower one: a sender limited by what it has to send
 * learns nothing of the capacity above it otherwise). hc_bwe_probe_wanted()
 * returns it next, unless the target is already above it or the link is
 * congested. */
void hc_bwe_request_probe(hc_bwe_t *b, uint32_t rate_bps);

/* The sender sends rare, big bursts and little between them (a consult's
 * stills, proto/ladder.h): the queue a burst builds drains by itself when
 * the burst ends, and the delivery rate over 500 ms counts the quiet time
 * before it. An overuse then decreases to BETA x the delivery rate of the
 * last 100 ms only (the burst's: the link's capacity), without the queue
 * drain factor, so each still does not cut the estimate to its floor. */
void hc_bwe_set_bursty(hc_bwe_t *b, bool on);

uint32_t hc_bwe_target_bps(const hc_bwe_t *b);
void hc_bwe_state(const hc_bwe_t *b, hc_bwe_state_t *out);

/* ---- building blocks, exposed for tests and tools ------------------------ */

/* Packet groups (GCC §5.2). Zero-initialised state is valid. */
typedef struct hc_bwe_group {
    uint64_t first_send_us, last_send_us;
    int64_t first_arrival_us, last_arrival_us;
    uint64_t bytes;
    uint32_t packets;
} hc_bwe_group_t;

typedef struct hc_bwe_interarrival {
    hc_bwe_group_t cur, prev;
    bool have_cur, have_prev;
} hc_bwe_interarrival_t;

typedef struct hc_bwe_delta {
    double send_delta_ms;    /* last send of this group - of the previous */
    double arrival_delta_ms; /* last arrival of this group - of the previous */
    double arrival_ms;       /* last arrival of this group (receiver clock) */
    uint32_t packets;
} hc_bwe_delta_t;

/* Feed received packets in arrival order. Returns true and fills *out when
 * the packet starts a new group, completing one whose deltas against its
 * predecessor are then known. Packets sent before the current group are
 * ignored (reordered). */
bool hc_bwe_interarrival_add(hc_bwe_interarrival_t *ia, uint64_t send_us, int64_t arrival_us,
                             size_t bytes, hc_bwe_delta_t *out);

/* Trendline estimator (libwebrtc TrendlineEstimator). */
#define HC_BWE_TREND_WINDOW 20

typedef struct hc_bwe_trend {
    double acc_ms, smoothed_ms;
    double first_arrival_ms;
    bool started;
    double x[HC_BWE_TREND_WINDOW], y[HC_BWE_TREND_WINDOW];
    size_t n, head;
    uint32_t num_deltas;
    double slope;
} hc_bwe_trend_t;

void hc_bwe_trend_init(hc_bwe_trend_t *t);
/* Add one group's delay variation; returns the slope (ms of delay per ms),
 * the previous slope until the window is full. */
double hc_bwe_trend_update(hc_bwe_trend_t *t, double arrival_ms, double delay_delta_ms);

/* Overuse detector with adaptive threshold (GCC §5.4). */
typedef struct hc_bwe_detector {
    double threshold_ms;
    double time_over_ms; /* -1: not over */
    int over_count;
    double prev_slope;
    double modified_trend;
    double last_update_ms;
    bool have_update;
    hc_bwe_usage_t usage;
} hc_bwe_detector_t;

void hc_bwe_detector_init(hc_bwe_detector_t *d);
/* slope from the trendline, num_deltas groups seen so far, send_delta_ms
 * of the group, now_ms its arrival time. Returns the new state. */
hc_bwe_usage_t hc_bwe_detector_update(hc_bwe_detector_t *d, double slope, uint32_t num_deltas,
                                      double send_delta_ms, double now_ms);

/* Loss policy (GCC §6 with the random-loss tolerance above). */
typedef struct hc_bwe_loss {
    double bound_bps;
    uint64_t last_decrease_us;
    uint64_t last_update_us;
    bool have_update;
    bool congestive; /* the last decision judged the loss congestive */
} hc_bwe_loss_t;

#define HC_BWE_LOSS_CONG_LOW  0.02
#define HC_BWE_LOSS_CONG_HIGH 0.10
#define HC_BWE_LOSS_RAND_LOW  0.10
#define HC_BWE_LOSS_RAND_HIGH 0.15

void hc_bwe_loss_init(hc_bwe_loss_t *l, double max_bps);
/* loss: fraction in the last second; congestive: the delay signals
 * congestion; target_bps: the current target; delay_bps: the delay-based
 * estimate. Returns the new bound. */
double hc_bwe_loss_update(hc_bwe_loss_t *l, double loss, bool congestive, double target_bps,
                          double delay_bps, double max_bps, uint32_t rtt_us, uint64_t now_us);

#endif
