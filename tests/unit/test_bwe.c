/*
 * Tests of the send-side bandwidth estimator (proto/bwe.h).
 *
 * Building blocks first (packet groups, trendline, overuse detector, loss
 * policy), then the estimator driven with hand-built feedback (acked rate,
 * decrease on a growing queue, random versus congestive loss, probing,
 * outage, reference-time wrap), then closed-loop simulations in simulated
 * time: encoder -> pacer -> simulated bottleneck (linksim) -> receiver ->
 * transport-wide feedback written and parsed with twcc.h over a delayed
 * return path -> estimator -> encoder and pacer. The figures the
 * simulations print are simulation results (deterministic for the seed),
 * never wall-clock timings. HC_SIM_VERBOSE=1 prints the estimator's state
 * every 250 ms and a per-second summary.
 */
#include "proto/bwe.h"
#include "proto/err.h"
#include "proto/linksim.h"
#include "proto/pacer.h"
#include "proto/twcc.h"
#include "tests/common/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000ull
#define S  1000000ull

/* ======================================================================== */
/* Building blocks                                                          */
/* ======================================================================== */

START_TEST(groups_by_send_burst)
{
    hc_bwe_interarrival_t ia;
    memset(&ia, 0, sizeof ia);
    hc_bwe_delta_t d;
    /* Group 1: sent at 0, 1, 2 ms; arrives at 50, 51, 52 ms. */
    ck_assert(!hc_bwe_interarrival_add(&ia, 0, 50000, 100, &d));
    ck_assert(!hc_bwe_interarrival_add(&ia, 1000, 51000, 100, &d));
    ck_assert(!hc_bwe_interarrival_add(&ia, 2000, 52000, 100, &d));
    /* Group 2 starts at 10 ms: no predecessor to compare group 1 with. */
    ck_assert(!hc_bwe_interarrival_add(&ia, 10000, 61000, 100, &d));
    ck_assert(!hc_bwe_interarrival_add(&ia, 14000, 66000, 100, &d)); /* within 5 ms */
    /* Group 3 completes group 2: send delta 14 - 2, arrival delta 66 - 52.
     * (Arriving 7 ms after 66 ms for a 6 ms send gap, it is no burst.) */
    ck_assert(hc_bwe_interarrival_add(&ia, 20000, 73000, 100, &d));
    ck_assert_double_eq_tol(d.send_delta_ms, 12.0, 1e-9);
    ck_assert_double_eq_tol(d.arrival_delta_ms, 14.0, 1e-9);
    ck_assert_double_eq_tol(d.arrival_ms, 66.0, 1e-9);
    ck_assert_uint_eq(d.packets, 2);
    /* Reordered: sent before the current group began. */
    ck_assert(!hc_bwe_interarrival_add(&ia, 15000, 74000, 100, &d));
    ck_assert_uint_eq(ia.cur.packets, 1);
}
END_TEST

START_TEST(groups_join_arrival_bursts)
{
    hc_bwe_interarrival_t ia;
    memset(&ia, 0, sizeof ia);
    hc_bwe_delta_t d;
    ck_assert(!hc_bwe_interarrival_add(&ia, 0, 100000, 100, &d));
    /* Sent 8 ms later but arrives 1 ms after the previous one: it waited
     * behind it (a radio burst), so it belongs to the same group. */
    ck_assert(!hc_bwe_interarrival_add(&ia, 8000, 101000, 100, &d));
    ck_assert_uint_eq(ia.cur.packets, 2);
    /* Sent 8 ms later and arriving 8 ms later: a new group. */
    ck_assert(!hc_bwe_interarrival_add(&ia, 16000, 109000, 100, &d));
    ck_assert(ia.have_prev);
    ck_assert_uint_eq(ia.prev.packets, 2);
}
END_TEST

START_TEST(trend_flat_and_rising)
{
    hc_bwe_trend_t t;
    hc_bwe_trend_init(&t);
    for (int i = 0; i < 40; i++) {
        double s = hc_bwe_trend_update(&t, 10.0 * i, 0.0);
        ck_assert_double_eq_tol(s, 0.0, 1e-12);
    }
    /* Each group arrives 1 ms later than it was sent relative to the
     * previous one, every 10 ms: the delay rises 0.1 ms per ms. Until the
     * window of 20 is full the previous slope (0) is returned. */
    hc_bwe_trend_init(&t);
    for (int i = 0; i < HC_BWE_TREND_WINDOW - 1; i++)
        ck_assert_double_eq(hc_bwe_trend_update(&t, 10.0 * i, 1.0), 0.0);
    double s = 0;
    for (int i = HC_BWE_TREND_WINDOW - 1; i < 200; i++) s = hc_bwe_trend_update(&t, 10.0 * i, 1.0);
    ck_assert_double_eq_tol(s, 0.1, 0.002);
    ck_assert_uint_eq(t.num_deltas, 200);
    /* A falling delay gives a negative slope. */
    for (int i = 200; i < 400; i++) s = hc_bwe_trend_update(&t, 10.0 * i, -1.0);
    ck_assert_double_eq_tol(s, -0.1, 0.002);
}
END_TEST

START_TEST(detector_states)
{
    hc_bwe_detector_t d;
    hc_bwe_detector_init(&d);
    ck_assert_double_eq(d.threshold_ms, 12.5);
    /* Too few deltas: normal whatever the slope. */
    ck_assert_int_eq(hc_bwe_detector_update(&d, 1.0, 1, 10, 0), HC_BWE_NORMAL);
    ck_assert_int_eq(hc_bwe_detector_update(&d, 0.0, 100, 10, 10), HC_BWE_NORMAL);
    /* m = 60 x 0.1 x 4 = 24 > 12.5: over for 5 ms after the first group,
     * 15 ms after the second, which makes it overuse. */
    ck_assert_int_eq(hc_bwe_detector_update(&d, 0.1, 100, 10, 20), HC_BWE_NORMAL);
    ck_assert_double_eq_tol(d.modified_trend, 24.0, 1e-9);
    ck_assert_int_eq(hc_bwe_detector_update(&d, 0.1, 100, 10, 30), HC_BWE_OVERUSE);
    /* A falling trend above the threshold does not confirm it again, but
     * the state stays until the trend leaves the band. */
    ck_assert_int_eq(hc_bwe_detector_update(&d, 0.09, 100, 10, 40), HC_BWE_OVERUSE);
    ck_assert_int_eq(hc_bwe_detector_update(&d, 0.0, 100, 10, 50), HC_BWE_NORMAL);
    ck_assert_int_eq(hc_bwe_detector_update(&d, -0.2, 100, 10, 60), HC_BWE_UNDERUSE);
    /* Fewer than 60 deltas scale the trend down. */
    hc_bwe_detector_init(&d);
    hc_bwe_detector_update(&d, 0.1, 10, 10, 0);
    ck_assert_double_eq_tol(d.modified_trend, 4.0, 1e-9);
}
END_TEST

START_TEST(detector_threshold_adapts)
{
    hc_bwe_detector_t d;
    hc_bwe_detector_init(&d);
    /* |m| below the threshold: it falls towards |m| (k_down), not below 6. */
    for (int i = 0; i < 200; i++) hc_bwe_detector_update(&d, 0.0, 100, 10, 10.0 * i);
    ck_assert_double_eq_tol(d.threshold_ms, 6.0, 1e-9);
    /* |m| a little above (within 15 ms): it rises slowly (k_up). */
    double before = d.threshold_ms;
    hc_bwe_detector_update(&d, 0.04, 100, 10, 2000); /* m = 9.6 */
    hc_bwe_detector_update(&d, 0.04, 100, 10, 2010);
    ck_assert(d.threshold_ms > before);
    ck_assert(d.threshold_ms < 9.6);
    /* Far above (more than threshold + 15): an outlier, no change. */
    before = d.threshold_ms;
    hc_bwe_detector_update(&d, 1.0, 100, 10, 2020); /* m = 240 */
    ck_assert_double_eq(d.threshold_ms, before);
    /* Never above 600. */
    for (int i = 0; i < 20000; i++) hc_bwe_detector_update(&d, 5.0, 100, 100, 3000.0 + 100.0 * i);
    ck_assert(d.threshold_ms <= 600.0);
}
END_TEST

START_TEST(loss_policy_congestive)
{
    hc_bwe_loss_t l;
    hc_bwe_loss_init(&l, 4e6);
    ck_assert_double_eq(l.bound_bps, 4e6);
    /* 5 %: hold at the target. */
    hc_bwe_loss_update(&l, 0.05, true, 1e6, 1e6, 4e6, 100000, 1000000);
    ck_assert_double_eq(l.bound_bps, 1e6);
    /* 20 %: cut by 1 - 0.5 x 0.2. */
    hc_bwe_loss_update(&l, 0.20, true, 1e6, 1e6, 4e6, 100000, 2000000);
    ck_assert_double_eq_tol(l.bound_bps, 0.9e6, 1);
    /* Not again before RTT + 300 ms. */
    hc_bwe_loss_update(&l, 0.20, true, 0.9e6, 1e6, 4e6, 100000, 2300000);
    ck_assert_double_eq_tol(l.bound_bps, 0.9e6, 1);
    hc_bwe_loss_update(&l, 0.20, true, 0.9e6, 1e6, 4e6, 100000, 2400000);
    ck_assert_double_eq_tol(l.bound_bps, 0.81e6, 1);
    /* 1 %: grows 8 %/s from the target. */
    hc_bwe_loss_update(&l, 0.01, true, 0.81e6, 1e6, 4e6, 100000, 3400000);
    ck_assert_double_eq_tol(l.bound_bps, 0.81e6 * 1.08, 1);
    ck_assert(l.congestive);
}
END_TEST

START_TEST(loss_policy_random)
{
    hc_bwe_loss_t l;
    hc_bwe_loss_init(&l, 4e6);
    /* 8 % random loss costs nothing. */
    hc_bwe_loss_update(&l, 0.08, false, 1e6, 1.2e6, 4e6, 100000, 1000000);
    ck_assert_double_eq(l.bound_bps, 4e6);
    /* 12 %: held at the delay-based estimate. */
    hc_bwe_loss_update(&l, 0.12, false, 1e6, 1.2e6, 4e6, 100000, 2000000);
    ck_assert_double_eq(l.bound_bps, 1.2e6);
    /* 20 %: the estimate x 0.9, the same however often it is asked. */
    for (int i = 0; i < 10; i++)
        hc_bwe_loss_update(&l, 0.20, false, 1e6, 1.2e6, 4e6, 100000, 3000000 + 500000ull * i);
    ck_assert_double_eq_tol(l.bound_bps, 1.08e6, 1);
    ck_assert(!l.congestive);
}
END_TEST

/* ======================================================================== */
/* The estimator with hand-built feedback                                   */
/* ======================================================================== */

/* A receiver with its own clock (offset from the sender's). */
#define RX_OFF_US 123456789ll
#define OL_MAX    16384

typedef struct open_loop {
    hc_bwe_t *b;
    uint16_t seq;
    int64_t arr[OL_MAX]; /* arrival (receiver clock) per packet index; -1 lost */
    uint64_t sent_at[OL_MAX];
    size_t n, reported;
    uint8_t fb_count;
} open_loop_t;

static void ol_new(open_loop_t *o, uint32_t start_bps)
{
    memset(o, 0, sizeof *o);
    hc_bwe_cfg_t c;
    hc_bwe_cfg_default(&c);
    c.start_bps = start_bps;
    c.max_bps = 5000000;
    ck_assert_int_eq(hc_bwe_new(&o->b, &c, 0), 0);
}

/* Send one packet at t; it arrives at arr (sender clock) or is lost (-1). */
static void ol_send(open_loop_t *o, uint64_t t, size_t bytes, int64_t arr, bool probe)
{
    ck_assert_uint_lt(o->n, OL_MAX);
    hc_bwe_on_sent(o->b, o->seq++, bytes, t, probe);
    o->sent_at[o->n] = t;
    o->arr[o->n++] = arr < 0 ? -1 : arr + RX_OFF_US;
}

/* Report every packet that has arrived (or is lost) by `now - 25 ms`,
 * as a receiver would, in one feedback. */
static int ol_feedback(open_loop_t *o, uint64_t now)
{
    static hc_twcc_pkt_t pk[OL_MAX];
    size_t m = 0;
    int64_t first = -1;
    while (o->reported + m < o->n) {
        size_t i = o->reported + m;
        int64_t a = o->arr[i];
        if (a >= 0 && a - RX_OFF_US > (int64_t)now - 25000) break;
        if (a < 0 && o->sent_at[i] + 200000 > now) break;
        if (a >= 0 && first < 0) first = a;
        pk[m].seq = (uint16_t)i;
        pk[m].received = a >= 0;
        m++;
    }
    if (m == 0 || first < 0) return 0;
    int64_t ref = first / (int64_t)HC_TWCC_REF_US;
    for (size_t i = 0; i < m; i++)
        pk[i].arrival_us =
            pk[i].received ? o->arr[o->reported + i] - ref * (int64_t)HC_TWCC_REF_US : 0;
    hc_twcc_fb_t hdr = {.base_seq = pk[0].seq, .ref_time = (int32_t)ref, .fb_count = o->fb_count++};
    o->reported += m;
    return hc_bwe_on_feedback(o->b, &hdr, pk, m, now);
}

/* Open loop at a fixed rate: packets of `bytes` every `gap` us from t0 to
 * t1; each arrives at send + delay + queue, where the queue grows when the
 * link (link_bps) is slower than the sending. Feedback every 50 ms. */
static uint64_t ol_run(open_loop_t *o, uint64_t t0, uint64_t t1, uint64_t gap, size_t bytes,
                       double link_bps, double loss_every, int64_t *busy_until)
{
    uint64_t next_fb = t0 + 50000;
    size_t k = 0;
    for (uint64_t t = t0; t < t1; t += gap, k++) {
        int64_t start = (int64_t)t > *busy_until ? (int64_t)t : *busy_until;
        int64_t done = start + (int64_t)(bytes * 8 * 1e6 / link_bps);
        bool lost = loss_every > 0 && fmod((double)k, loss_every) < 1.0 && k > 0;
        if (!lost) *busy_until = done;
        ol_send(o, t, bytes, lost ? -1 : done + 50000, false);
        while (next_fb <= t) {
            ol_feedback(o, next_fb);
            hc_bwe_tick(o->b, next_fb);
            next_fb += 50000;
        }
    }
    return next_fb;
}

START_TEST(bwe_acked_rate_and_increase)
{
    open_loop_t *o = calloc(1, sizeof *o);
    ol_new(o, 300000);
    int64_t busy = 0;
    /* 1 Mbit/s on a 10 Mbit/s link for 3 s: no queue. */
    ol_run(o, 0, 3 * S, 8000, 1000, 10e6, 0, &busy);
    hc_bwe_state_t st;
    hc_bwe_state(o->b, &st);
    ck_assert_msg(fabs((double)st.acked_bps - 1e6) < 0.05e6, "acked %u", st.acked_bps);
    ck_assert_uint_lt(st.qdelay_us, 2000);
    ck_assert_int_eq(st.usage, HC_BWE_NORMAL);
    ck_assert(!st.outage);
    ck_assert_double_eq(st.loss, 0);
    ck_assert_uint_eq(st.unknown, 0);
    /* Never more than 1.5 x acked + 10 kbit/s. */
    ck_assert_uint_gt(st.target_bps, 300000);
    ck_assert_uint_le(st.target_bps, 1510000 * 1.01);
    hc_bwe_destroy(&o->b);
    ck_assert_ptr_null(o->b);
    free(o);
}
END_TEST

START_TEST(bwe_decrease_on_queue)
{
    open_loop_t *o = calloc(1, sizeof *o);
    ol_new(o, 1000000);
    int64_t busy = 0;
    ol_run(o, 0, 2 * S, 8000, 1000, 10e6, 0, &busy);
    hc_bwe_state_t st;
    hc_bwe_state(o->b, &st);
    uint64_t overuses = st.overuses;
    /* The link drops to 500 kbit/s while we keep sending 1 Mbit/s. */
    ol_run(o, 2 * S, 2600 * MS, 8000, 1000, 0.5e6, 0, &busy);
    hc_bwe_state(o->b, &st);
    ck_assert_uint_gt(st.overuses, overuses);
    ck_assert_uint_gt(st.qdelay_us, 40000);
    /* 0.85 x the 500 kbit/s that arrives, lowered more to drain the queue. */
    ck_assert_msg(st.target_bps <= 0.85 * 0.5e6 * 1.05 && st.target_bps >= 0.3 * 0.5e6 * 0.95,
                  "target %u", st.target_bps);
    hc_bwe_destroy(&o->b);
    free(o);
}
END_TEST

/* Stills on a thin link: 1.5 s of audio alone, then a 12 KB burst a
 * little above the link's capacity, again and again. Each burst builds a
 * queue and an overuse; without the bursty mode the decrease goes to the
 * delivery rate of 500 ms that were mostly quiet (and further to drain the
 * queue), with it to the burst's own delivery rate. */
static uint32_t stills_min_target(bool bursty)
{
    open_loop_t *o = calloc(1, sizeof *o);
    ol_new(o, 180000);
    hc_bwe_set_bursty(o->b, bursty);
    const double link = 150000;
    int64_t busy = 0;
    uint64_t next_fb = 50000, t = 0;
    uint32_t lo = UINT32_MAX;
    for (int c = 0; c < 8; c++) {
        /* audio, 100 B every 20 ms, then the still's 10 x 1200 B every 53 ms
         * (180 kbit/s) with the audio going on */
        uint64_t end = t + 2000000;
        uint64_t still_at = t + 1500000;
        int still_left = 10;
        uint64_t next_audio = t, next_still = still_at;
        while (t < end) {
            size_t bytes;
            if (still_left && next_still <= next_audio) {
                t = next_still;
                bytes = 1200;
                next_still += 53333;
                still_left--;
            } else {
                t = next_audio;
                bytes = 100;
                next_audio += 20000;
            }
            int64_t start = (int64_t)t > busy ? (int64_t)t : busy;
            busy = start + (int64_t)(bytes * 8 * 1e6 / link);
            ol_send(o, t, bytes, busy + 50000, false);
            while (next_fb <= t) {
                ol_feedback(o, next_fb);
                hc_bwe_tick(o->b, next_fb);
                next_fb += 50000;
                hc_bwe_state_t st;
                hc_bwe_state(o->b, &st);
                if (c >= 2 && st.target_bps < lo) lo = st.target_bps;
            }
        }
    }
    hc_bwe_state_t st;
    hc_bwe_state(o->b, &st);
    fprintf(stderr, "stills on 150 kbit/s, bursty %d: lowest target %u, overuses %llu\n",
            (int)bursty, lo, (unsigned long long)st.overuses);
    hc_bwe_destroy(&o->b);
    free(o);
    return lo;
}

START_TEST(bwe_bursty_decrease)
{
    uint32_t plain = stills_min_target(false), bursty = stills_min_target(true);
    /* the burst's delivery rate is the link's: 0.85 x 150 kbit/s */
    ck_assert_uint_ge(bursty, 0.85 * 150000 * 0.9);
    ck_assert_uint_gt(bursty, plain);
}
END_TEST

START_TEST(bwe_random_loss_tolerated)
{
    open_loop_t *o = calloc(1, sizeof *o);
    ol_new(o, 1000000);
    int64_t busy = 0;
    /* Every 8th packet lost (12.5 %) with no queue: the radio's loss. */
    ol_run(o, 0, 4 * S, 8000, 1000, 10e6, 8, &busy);
    hc_bwe_state_t st;
    hc_bwe_state(o->b, &st);
    ck_assert_msg(fabs(st.loss - 0.125) < 0.03, "loss %.3f", st.loss);
    ck_assert(!st.loss_congestive);
    /* Held at the delay-based estimate, not cut. */
    ck_assert_uint_eq(st.loss_bps, st.delay_bps);
    ck_assert_uint_ge(st.target_bps, 900000);
    hc_bwe_destroy(&o->b);
    free(o);
}
END_TEST

START_TEST(bwe_congestion_answered_once)
{
    /* A slower link with a growing queue that also drops packets: the
     * delay-based side cuts the rate; the loss of packets sent before that
     * cut is old news and must not cut it again. */
    open_loop_t *o = calloc(1, sizeof *o);
    ol_new(o, 1000000);
    int64_t busy = 0;
    ol_run(o, 0, 2 * S, 8000, 1000, 10e6, 0, &busy);
    ol_run(o, 2 * S, 4 * S, 8000, 1000, 0.7e6, 8, &busy);
    hc_bwe_state_t st;
    hc_bwe_state(o->b, &st);
    ck_assert_uint_gt(st.overuses, 0);
    ck_assert_msg(st.target_bps <= 0.85 * 0.7e6 * 1.05, "target %u", st.target_bps);
    ck_assert_uint_ge(st.loss_bps, st.delay_bps);
    hc_bwe_destroy(&o->b);
    free(o);
}
END_TEST

START_TEST(bwe_probe_result)
{
    for (int capped = 0; capped < 2; capped++) {
        open_loop_t *o = calloc(1, sizeof *o);
        ol_new(o, 300000);
        uint32_t rate = 0;
        ck_assert(hc_bwe_probe_wanted(o->b, 0, &rate));
        ck_assert_uint_eq(rate, 900000);
        /* Only one cluster in flight. */
        uint32_t again = 0;
        ck_assert(!hc_bwe_probe_wanted(o->b, 1000, &again));
        /* 8 packets of 1125 bytes at 900 kbit/s (10 ms apart); the link
         * passes them at once, or at 450 kbit/s. */
        int64_t link_free = 0;
        for (int i = 0; i < 8; i++) {
            uint64_t t = 10000ull * (uint64_t)i;
            int64_t arr;
            if (capped) {
                int64_t st = (int64_t)t > link_free ? (int64_t)t : link_free;
                link_free = st + 20000;
                arr = link_free + 50000;
            } else {
                arr = (int64_t)t + 50000;
            }
            ol_send(o, t, 1125, arr, true);
        }
        ol_send(o, 90000, 200, 140000 + (capped ? 100000 : 0), false); /* closes the cluster */
        ol_feedback(o, 400000);
        hc_bwe_tick(o->b, 400000);
        hc_bwe_state_t st;
        hc_bwe_state(o->b, &st);
        ck_assert_uint_eq(st.probes, 1);
        ck_assert_uint_eq(st.probes_valid, 1);
        if (!capped) {
            ck_assert_msg(fabs((double)st.probe_bps - 900000) < 20000, "probe %u", st.probe_bps);
            ck_assert_uint_ge(st.target_bps, 880000);
            /* A probe that came back whole asks for another at twice the result. */
            ck_assert(hc_bwe_probe_wanted(o->b, 410000, &rate));
            ck_assert_msg(fabs((double)rate - 1800000) < 40000, "further %u", rate);
        } else {
            ck_assert_msg(fabs((double)st.probe_bps - 0.95 * 450000) < 15000, "probe %u",
                          st.probe_bps);
        }
        hc_bwe_destroy(&o->b);
        free(o);
    }
}
END_TEST

START_TEST(bwe_outage_hold_decay_restore)
{
    open_loop_t *o = calloc(1, sizeof *o);
    ol_new(o, 1000000);
    int64_t busy = 0;
    uint64_t t = 2 * S;
    ol_run(o, 0, t, 8000, 1000, 10e6, 0, &busy);
    hc_bwe_state_t st;
    hc_bwe_state(o->b, &st);
    double before = st.target_bps;
    ck_assert(!st.outage);
    /* The link dies: packets keep going out, nothing comes back. */
    for (uint64_t u = t; u < t + 30 * S; u += 8000) {
        ol_send(o, u, 1000, -1, false);
        if (u % (25 * MS) == 0) hc_bwe_tick(o->b, u);
        hc_bwe_state(o->b, &st);
        if (u < t + 900 * MS) ck_assert(!st.outage);
        if (u > t + 1100 * MS) ck_assert(st.outage);
        if (u > t + 1100 * MS && u < t + 1900 * MS)
            ck_assert_msg(st.target_bps >= before * 0.999, "not held: %u", st.target_bps);
        if (u > t + 6 * S && u < t + 6 * S + 8000)
            ck_assert_msg(st.target_bps < before * 0.5, "no decay: %u", st.target_bps);
    }
    hc_bwe_state(o->b, &st);
    ck_assert_msg(fabs(st.target_bps - 0.3 * before) < 0.02 * before, "floor %u", st.target_bps);
    /* Back: the outage's packets are reported lost, new ones arrive. */
    uint64_t back = t + 30 * S;
    o->reported = o->n; /* the receiver reports from what arrives next */
    busy = (int64_t)back;
    ol_run(o, back, back + 1 * S, 8000, 1000, 10e6, 0, &busy);
    hc_bwe_state(o->b, &st);
    ck_assert(!st.outage);
    ck_assert_msg(st.target_bps >= before * 0.99, "restored %u of %.0f", st.target_bps, before);
    ck_assert_double_eq(st.loss, 0);
    hc_bwe_destroy(&o->b);
    free(o);
}
END_TEST

START_TEST(bwe_outage_losses_not_counted)
{
    /* Feedback after an outage reports the packets sent into it as lost;
     * they must not count as loss. */
    open_loop_t *o = calloc(1, sizeof *o);
    ol_new(o, 1000000);
    int64_t busy = 0;
    ol_run(o, 0, 2 * S, 8000, 1000, 10e6, 0, &busy);
    for (uint64_t u = 2 * S; u < 5 * S; u += 8000) {
        ol_send(o, u, 1000, -1, false);
        if (u % (25 * MS) == 0) hc_bwe_tick(o->b, u);
    }
    busy = 5 * S;
    ol_run(o, 5 * S, 6 * S, 8000, 1000, 10e6, 0, &busy);
    hc_bwe_state_t st;
    hc_bwe_state(o->b, &st);
    ck_assert(!st.outage);
    ck_assert_double_eq(st.loss, 0);
    ck_assert_uint_ge(st.loss_bps, st.delay_bps);
    hc_bwe_destroy(&o->b);
    free(o);
}
END_TEST

START_TEST(bwe_reference_time_wraps)
{
    /* The 24-bit reference time wraps; arrivals must stay continuous. */
    hc_bwe_t *b = NULL;
    ck_assert_int_eq(hc_bwe_new(&b, NULL, 0), 0);
    int64_t rx0 = (int64_t)0x7fffff * (int64_t)HC_TWCC_REF_US - 500000; /* 0.5 s before the wrap */
    uint16_t seq = 0;
    for (int f = 0; f < 40; f++) {
        hc_twcc_pkt_t pk[10];
        int64_t first = rx0 + (int64_t)f * 50000;
        int64_t ref = first / (int64_t)HC_TWCC_REF_US;
        int32_t wire = (int32_t)(ref & 0xffffff);
        if (wire >= 0x800000) wire -= 0x1000000;
        for (int i = 0; i < 10; i++) {
            uint64_t sent = (uint64_t)f * 50000 + (uint64_t)i * 5000;
            hc_bwe_on_sent(b, seq, 625, sent, false);
            pk[i].seq = seq++;
            pk[i].received = true;
            pk[i].arrival_us = first + i * 5000 - ref * (int64_t)HC_TWCC_REF_US;
        }
        hc_twcc_fb_t hdr = {.base_seq = pk[0].seq, .ref_time = wire, .fb_count = (uint8_t)f};
        ck_assert_int_eq(hc_bwe_on_feedback(b, &hdr, pk, 10, (uint64_t)f * 50000 + 100000), 10);
        hc_bwe_state_t st;
        hc_bwe_state(b, &st);
        ck_assert_msg(st.qdelay_us < 1000, "feedback %d: qdelay %u", f, st.qdelay_us);
        ck_assert_int_ne(st.usage, HC_BWE_OVERUSE);
    }
    hc_bwe_destroy(&b);
}
END_TEST

START_TEST(bwe_unknown_and_repeated)
{
    hc_bwe_t *b = NULL;
    ck_assert_int_eq(hc_bwe_new(&b, NULL, 0), 0);
    hc_twcc_pkt_t pk[4] = {{.seq = 100, .received = true, .arrival_us = 1000},
                           {.seq = 101, .received = false},
                           {.seq = 102, .received = true, .arrival_us = 3000},
                           {.seq = 103, .received = true, .arrival_us = 4000}};
    hc_twcc_fb_t hdr = {.base_seq = 100, .ref_time = 5};
    /* Nothing was sent: every report is unknown. */
    ck_assert_int_eq(hc_bwe_on_feedback(b, &hdr, pk, 4, 1000), 0);
    hc_bwe_state_t st;
    hc_bwe_state(b, &st);
    ck_assert_uint_eq(st.unknown, 4);
    ck_assert_uint_eq(st.feedbacks, 1);
    for (uint16_t s = 100; s < 104; s++) hc_bwe_on_sent(b, s, 500, 2000 + s, false);
    ck_assert_int_eq(hc_bwe_on_feedback(b, &hdr, pk, 4, 5000), 4);
    /* The same report again matches but changes nothing; a later report of
     * the lost packet as received is taken. */
    ck_assert_int_eq(hc_bwe_on_feedback(b, &hdr, pk, 4, 6000), 4);
    pk[1].received = true;
    pk[1].arrival_us = 2000;
    ck_assert_int_eq(hc_bwe_on_feedback(b, &hdr, pk, 4, 7000), 4);
    hc_bwe_state(b, &st);
    ck_assert_uint_eq(st.unknown, 4);
    ck_assert_uint_eq(st.feedbacks, 4);
    /* Empty feedback is fine. */
    ck_assert_int_eq(hc_bwe_on_feedback(b, &hdr, NULL, 0, 8000), 0);
    hc_bwe_destroy(&b);
}
END_TEST

START_TEST(bwe_api_errors)
{
    hc_bwe_t *b = NULL;
    hc_bwe_cfg_t c;
    hc_bwe_cfg_default(&c);
    ck_assert_uint_eq(c.min_bps, 50000);
    ck_assert_uint_eq(c.start_bps, 300000);
    ck_assert_int_eq(hc_bwe_new(NULL, &c, 0), -HC_EINVAL);
    c.min_bps = 2000000, c.max_bps = 1000000;
    ck_assert_int_eq(hc_bwe_new(&b, &c, 0), -HC_EINVAL);
    hc_bwe_cfg_default(&c);
    c.start_bps = 20000000;
    ck_assert_int_eq(hc_bwe_new(&b, &c, 0), -HC_EINVAL);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(hc_bwe_new(&b, NULL, 0), 0);
    ck_assert_uint_eq(hc_bwe_target_bps(b), 300000);
    hc_twcc_fb_t hdr = {0};
    hc_twcc_pkt_t pk = {0};
    ck_assert_int_eq(hc_bwe_on_feedback(NULL, &hdr, &pk, 1, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_bwe_on_feedback(b, NULL, &pk, 1, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_bwe_on_feedback(b, &hdr, NULL, 1, 0), -HC_EINVAL);
    ck_assert(!hc_bwe_probe_wanted(b, 0, NULL));
    ck_assert(!hc_bwe_probe_wanted(NULL, 0, NULL));
    /* NULL estimator: no effect, no crash. */
    hc_bwe_on_sent(NULL, 1, 100, 0, false);
    hc_bwe_on_rtt(NULL, 1000);
    hc_bwe_on_rr_loss(NULL, 10, 100, 0);
    hc_bwe_tick(NULL, 0);
    hc_bwe_state(NULL, NULL);
    ck_assert_uint_eq(hc_bwe_target_bps(NULL), 0);
    hc_bwe_on_rtt(b, 80000);
    hc_bwe_state_t st;
    hc_bwe_state(b, &st);
    ck_assert_uint_eq(st.rtt_us, 80000);
    hc_bwe_destroy(&b);
    hc_bwe_destroy(&b);
    hc_bwe_destroy(NULL);
}
END_TEST

START_TEST(bwe_rr_loss_without_twcc)
{
    /* No transport-wide feedback: the receiver report's loss is used. */
    hc_bwe_t *b = NULL;
    ck_assert_int_eq(hc_bwe_new(&b, NULL, 0), 0);
    hc_bwe_on_rr_loss(b, 64, 500, 2 * S); /* 25 % */
    hc_bwe_tick(b, 2 * S);
    hc_bwe_state_t st;
    hc_bwe_state(b, &st);
    ck_assert_double_eq_tol(st.loss, 0.25, 1e-9);
    ck_assert_uint_lt(st.loss_bps, 10000000);
    hc_bwe_destroy(&b);
}
END_TEST

/* ======================================================================== */
/* Closed-loop simulation                                                   */
/* ======================================================================== */

#define BIN_US       10000ull
#define FB_PERIOD_US 50000ull
#define TICK_US      25000ull
#define FPS          30
#define GOP_FRAMES   90 /* a keyframe every 3 s */
#define KEY_FACTOR   3.0
#define AUDIO_US     20000ull
#define AUDIO_BYTES  120
#define PKT_OVERHEAD 50
#define MAX_PAYLOAD  1150
#define RX_RING      65536
#define RET_MAX      256
/* The receiver's clock is far from the sender's and its 24-bit reference
 * time wraps 20 s into every run. */
#define RX_OFFSET_US ((uint64_t)0x800000 * HC_TWCC_REF_US - 20 * S)

typedef struct simcfg {
    const char *name;
    uint64_t duration_us;
    uint64_t delay_us;
    double loss;
    uint64_t seed;
    size_t nsteps;
    uint64_t step_at[8], step_bps[8];
    const uint32_t *trace;
    size_t trace_n;
    double scale;
    uint64_t out_from, out_to; /* outage when out_to > out_from */
    /* Instead of the estimator, send at oracle_gain x the capacity of the
     * 100 ms that ended oracle_lag_us ago (a yardstick: what a sender told
     * the link's capacity a round trip late could do). 0: off. */
    double oracle_gain;
    uint64_t oracle_lag_us;
    bool verbose;
} simcfg_t;

typedef struct retmsg {
    uint64_t at;
    size_t len;
    uint8_t buf[1200];
} retmsg_t;

typedef struct sim {
    simcfg_t cfg;
    hc_bwe_t *bwe;
    hc_pacer_t *pacer;
    hc_linksim_t *link;
    size_t nbins;
    double *sent_all, *sent_media, *delivered, *target, *npk, *nlate;

    uint64_t frame_no;
    uint64_t rng;
    uint16_t twcc;
    int64_t twcc_ext;

    /* receiver */
    int64_t rx_ext[RX_RING];
    int64_t rx_arr[RX_RING];
    int64_t first_unreported, highest;
    bool any_rx;
    uint8_t fb_count;
    hc_twcc_pkt_t fbp[RX_RING];
    uint64_t rr_expected, rr_received, rr_rx_prior;
    int64_t rr_base;
    double last_qdelay_us;

    retmsg_t ret[RET_MAX];
    size_t ret_head, ret_n;
} sim_t;

typedef struct simres {
    double util, util_media;
    double qd_p50_ms, qd_p95_ms, qd_max_ms;
    uint64_t pacer_drops;
    hc_bwe_state_t st;
} simres_t;

static double urand(sim_t *s)
{
    return (double)(hc_test_rand(&s->rng) >> 11) / 9007199254740992.0;
}

static size_t bin_of(uint64_t t)
{
    return (size_t)(t / BIN_US);
}

static double sim_target(sim_t *s, uint64_t now)
{
    if (s->cfg.oracle_gain > 0 && now > s->cfg.oracle_lag_us + 100 * MS) {
        uint64_t end = now - s->cfg.oracle_lag_us;
        double c = (double)hc_linksim_capacity_bytes(s->link, end - 100 * MS, end) * 80.0;
        c *= s->cfg.oracle_gain;
        return c < 50000 ? 50000 : c;
    }
    return hc_bwe_target_bps(s->bwe);
}

/* A simple encoder: frames at 30 fps sized for the target (minus audio),
 * keyframes 3x a P-frame every 3 s, +-15 % noise; it lowers its rate when
 * the pacer queue grows, as the edge's encoder does. */
static void sim_push_video(sim_t *s, uint64_t now)
{
    double video = sim_target(s, now) - AUDIO_BYTES * 8.0 * 1e6 / AUDIO_US;
    if (video < 30000) video = 30000;
    double pq = (double)hc_pacer_queue_delay_us(s->pacer, now);
    if (pq > 60000) {
        double f = 1.0 - (pq - 60000) / 500000.0;
        video *= f < 0.3 ? 0.3 : f;
    }
    double gop_bits = video * GOP_FRAMES / FPS;
    double p_bits = gop_bits / (GOP_FRAMES - 1 + KEY_FACTOR);
    bool key = s->frame_no % GOP_FRAMES == 0;
    double bits = (key ? KEY_FACTOR : 1.0) * p_bits * (0.85 + 0.3 * urand(s));
    size_t bytes = (size_t)(bits / 8);
    if (bytes < 100) bytes = 100;
    size_t npk = (bytes + MAX_PAYLOAD - 1) / MAX_PAYLOAD;
    for (size_t i = 0; i < npk; i++) {
        size_t part = bytes / npk + (i < bytes % npk ? 1 : 0);
        hc_pacer_pkt_t p = {
            .ref = 1, .bytes = (uint32_t)(part + PKT_OVERHEAD), .kind = HC_PACER_VIDEO};
        hc_pacer_push(s->pacer, &p, now);
    }
    s->frame_no++;
}

static void sim_send(sim_t *s, uint64_t now, const hc_pacer_pkt_t *p)
{
    uint16_t seq = s->twcc++;
    int64_t ext = s->twcc_ext++;
    hc_bwe_on_sent(s->bwe, seq, p->bytes, now, p->probe);
    hc_linksim_send(s->link, now, (uint64_t)ext, p->bytes);
    size_t b = bin_of(now);
    if (b < s->nbins) {
        s->sent_all[b] += p->bytes;
        if (p->kind != HC_PACER_PADDING) s->sent_media[b] += p->bytes;
    }
}

static void sim_ret_push(sim_t *s, uint64_t at, const uint8_t *buf, size_t len)
{
    ck_assert_uint_lt(s->ret_n, RET_MAX);
    ck_assert_uint_le(len, sizeof s->ret[0].buf);
    retmsg_t *m = &s->ret[(s->ret_head + s->ret_n) % RET_MAX];
    m->at = at;
    m->len = len;
    memcpy(m->buf, buf, len);
    s->ret_n++;
}

static int32_t ref_of(int64_t rx_us)
{
    int64_t r = rx_us / (int64_t)HC_TWCC_REF_US;
    int32_t w = (int32_t)(r & 0xffffff);
    if (w >= 0x800000) w -= 0x1000000;
    return w;
}

/* The receiver reports everything from the first unreported sequence
 * number up to the highest received, as libwebrtc's RemoteEstimatorProxy
 * does, in as many feedback packets as that takes. */
static void sim_feedback(sim_t *s, uint64_t now)
{
    if (!s->any_rx || s->highest < s->first_unreported) return;
    size_t n = (size_t)(s->highest - s->first_unreported + 1);
    ck_assert_uint_le(n, RX_RING);
    for (size_t i = 0; i < n; i++) {
        int64_t e = s->first_unreported + (int64_t)i;
        size_t k = (size_t)(e & (RX_RING - 1));
        s->fbp[i].seq = (uint16_t)e;
        s->fbp[i].received = s->rx_ext[k] == e;
        s->fbp[i].arrival_us = s->fbp[i].received ? s->rx_arr[k] : 0;
    }
    size_t off = 0;
    while (off < n) {
        /* Reference time: the 64 ms tick at or below the first arrival. */
        int64_t first = -1;
        for (size_t i = off; i < n; i++)
            if (s->fbp[i].received) {
                first = s->fbp[i].arrival_us;
                break;
            }
        ck_assert(first >= 0);
        int64_t ref_us = first / (int64_t)HC_TWCC_REF_US * (int64_t)HC_TWCC_REF_US;
        hc_twcc_pkt_t tmp[512];
        size_t m = n - off < 512 ? n - off : 512;
        for (size_t i = 0; i < m; i++) {
            tmp[i] = s->fbp[off + i];
            if (tmp[i].received) tmp[i].arrival_us -= ref_us;
        }
        hc_twcc_fb_t hdr = {
            .base_seq = tmp[0].seq, .ref_time = ref_of(first), .fb_count = s->fb_count++};
        uint8_t buf[1200];
        size_t covered = 0;
        int w = hc_twcc_write(buf, sizeof buf, &hdr, tmp, m, &covered);
        ck_assert_msg(w > 0, "twcc write: %s", hc_strerror(w));
        ck_assert_uint_gt(covered, 0);
        bool down =
            hc_linksim_down(s->link, now) || hc_linksim_down(s->link, now + s->cfg.delay_us);
        if (!down) sim_ret_push(s, now + s->cfg.delay_us, buf, (size_t)w);
        off += covered;
    }
    s->first_unreported = s->highest + 1;
}

static void sim_deliver_feedback(sim_t *s, uint64_t now)
{
    static hc_twcc_pkt_t pk[8192];
    while (s->ret_n && s->ret[s->ret_head].at <= now) {
        retmsg_t *m = &s->ret[s->ret_head];
        hc_twcc_fb_t hdr;
        size_t n = 0;
        int rc = hc_twcc_parse(m->buf, m->len, &hdr, pk, 8192, &n);
        ck_assert_msg(rc > 0, "twcc parse: %s", hc_strerror(rc));
        ck_assert_int_ge(hc_bwe_on_feedback(s->bwe, &hdr, pk, n, now), 0);
        s->ret_head = (s->ret_head + 1) % RET_MAX;
        s->ret_n--;
    }
}

/* A receiver report every second: fraction lost since the last one (RFC
 * 3550 A.3) and an RTT (the path both ways plus the queue). */
static void sim_rr(sim_t *s, uint64_t now)
{
    if (s->any_rx) {
        uint64_t exp = (uint64_t)(s->highest + 1 - s->rr_base);
        uint64_t de = exp - s->rr_expected, dr = s->rr_received - s->rr_rx_prior;
        uint32_t frac = de > dr && de ? (uint32_t)((de - dr) * 256 / de) : 0;
        if (frac > 255) frac = 255;
        if (de) hc_bwe_on_rr_loss(s->bwe, (uint8_t)frac, (uint32_t)de, now);
        s->rr_expected = exp;
        s->rr_rx_prior = s->rr_received;
    }
    hc_bwe_on_rtt(s->bwe, (uint32_t)(2 * s->cfg.delay_us + s->last_qdelay_us));
}

static void sim_verbose_state(sim_t *s, uint64_t now)
{
    hc_bwe_state_t st;
    hc_bwe_state(s->bwe, &st);
    printf("  t=%6.2f target=%7u delay=%7u loss_b=%7u acked=%7u qd=%6.1f usage=%d thr=%5.1f "
           "trend=%6.1f loss=%.3f outage=%d\n",
           now / 1e6, st.target_bps, st.delay_bps, st.loss_bps, st.acked_bps, st.qdelay_us / 1000.0,
           st.usage, st.threshold_ms, st.trend_ms, st.loss, st.outage);
}

static void sim_run(const simcfg_t *cfg, sim_t *s, simres_t *res)
{
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->rng = cfg->seed ? cfg->seed : 7;
    s->nbins = (size_t)(cfg->duration_us / BIN_US) + 1;
    double **arrs[] = {&s->sent_all, &s->sent_media, &s->delivered, &s->target, &s->npk, &s->nlate};
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) {
        *arrs[i] = calloc(s->nbins, sizeof(double));
        ck_assert_ptr_nonnull(*arrs[i]);
    }
    for (size_t i = 0; i < RX_RING; i++) s->rx_ext[i] = -1;

    hc_bwe_cfg_t bc;
    hc_bwe_cfg_default(&bc);
    bc.max_bps = 5000000;
    ck_assert_int_eq(hc_bwe_new(&s->bwe, &bc, 0), 0);
    ck_assert_int_eq(hc_pacer_new(&s->pacer, NULL), 0);
    hc_linksim_cfg_t lc = {.delay_us = cfg->delay_us, .loss = cfg->loss, .seed = cfg->seed + 1};
    ck_assert_int_eq(hc_linksim_new(&s->link, &lc), 0);
    if (cfg->trace) {
        ck_assert_int_eq(hc_linksim_set_trace(s->link, cfg->trace, cfg->trace_n, cfg->scale, 0), 0);
    } else {
        for (size_t i = 0; i < cfg->nsteps; i++)
            ck_assert_int_eq(hc_linksim_set_rate(s->link, cfg->step_at[i], cfg->step_bps[i]), 0);
    }
    if (cfg->out_to > cfg->out_from)
        ck_assert_int_eq(hc_linksim_add_outage(s->link, cfg->out_from, cfg->out_to), 0);

    uint64_t now = 0, next_frame = 0, next_audio = 0, next_tick = 0, next_fb = FB_PERIOD_US,
             next_rr = S;
    const uint64_t frame_us = S / FPS;
    while (now < cfg->duration_us) {
        if (now >= next_tick) {
            hc_bwe_tick(s->bwe, now);
            uint32_t pr = 0;
            if (cfg->oracle_gain == 0 && hc_bwe_probe_wanted(s->bwe, now, &pr))
                hc_pacer_probe(s->pacer, pr, (uint32_t)((uint64_t)pr * HC_BWE_PROBE_US / 8000000),
                               HC_BWE_PROBE_MIN_PKTS, now);
            next_tick += TICK_US;
            size_t b = bin_of(now);
            if (b < s->nbins) s->target[b] = sim_target(s, now);
            if (cfg->verbose && now % (250 * MS) < TICK_US) sim_verbose_state(s, now);
        }
        hc_pacer_set_rate(s->pacer, (uint32_t)sim_target(s, now));
        if (now >= next_frame) {
            sim_push_video(s, now);
            next_frame += frame_us;
        }
        if (now >= next_audio) {
            hc_pacer_pkt_t p = {.ref = 2, .bytes = AUDIO_BYTES, .kind = HC_PACER_AUDIO};
            hc_pacer_push(s->pacer, &p, now);
            next_audio += AUDIO_US;
        }
        hc_pacer_pkt_t pk;
        uint64_t wait = UINT64_MAX;
        while (hc_pacer_next(s->pacer, now, &pk, &wait) == 1) sim_send(s, now, &pk);

        hc_linksim_pkt_t lp;
        while (hc_linksim_poll(s->link, now, &lp) == 1) {
            int64_t e = (int64_t)lp.id;
            size_t k = (size_t)(e & (RX_RING - 1));
            s->rx_ext[k] = e;
            s->rx_arr[k] = (int64_t)(lp.t_out + RX_OFFSET_US);
            if (!s->any_rx) {
                s->any_rx = true;
                s->first_unreported = e;
                s->rr_base = e;
            }
            if (e > s->highest) s->highest = e;
            s->rr_received++;
            s->last_qdelay_us = (double)lp.qdelay_us;
            size_t b = bin_of(lp.t_dep);
            if (b < s->nbins) {
                s->delivered[b] += lp.bytes;
                s->npk[b]++;
                if (lp.qdelay_us > 150 * MS) s->nlate[b]++;
            }
        }
        if (now >= next_fb) {
            sim_feedback(s, now);
            next_fb += FB_PERIOD_US;
        }
        sim_deliver_feedback(s, now);
        if (now >= next_rr) {
            sim_rr(s, now);
            next_rr += S;
        }

        uint64_t nx = next_tick;
        if (next_frame < nx) nx = next_frame;
        if (next_audio < nx) nx = next_audio;
        if (next_fb < nx) nx = next_fb;
        if (next_rr < nx) nx = next_rr;
        if (wait != UINT64_MAX && now + wait < nx) nx = now + wait;
        uint64_t ln = hc_linksim_next(s->link);
        if (ln < nx) nx = ln;
        if (s->ret_n && s->ret[s->ret_head].at < nx) nx = s->ret[s->ret_head].at;
        now = nx > now ? nx : now + 1;
    }

    if (cfg->verbose) {
        for (uint64_t t = 0; t + S <= cfg->duration_us; t += S) {
            double d = 0, tg = 0, np = 0, nl = 0;
            for (size_t i = bin_of(t); i < bin_of(t + S) && i < s->nbins; i++) {
                d += s->delivered[i];
                tg += s->target[i];
                np += s->npk[i];
                nl += s->nlate[i];
            }
            printf("  second %3llu: capacity %5.2f delivered %5.2f target ~%5.2f Mbit/s, "
                   "%4.0f packets, %4.0f queued > 150 ms\n",
                   (unsigned long long)(t / S),
                   hc_linksim_capacity_bytes(s->link, t, t + S) * 8 / 1e6, d * 8 / 1e6,
                   tg / (double)(S / TICK_US) / 1e6, np, nl);
        }
    }

    double deliv = 0, media_sent = 0, all_sent = 0;
    for (size_t i = 0; i < s->nbins; i++) {
        deliv += s->delivered[i];
        media_sent += s->sent_media[i];
        all_sent += s->sent_all[i];
    }
    double cap = (double)hc_linksim_capacity_bytes(s->link, 0, cfg->duration_us);
    res->util = cap > 0 ? deliv / cap : 0;
    res->util_media = cap > 0 && all_sent > 0 ? deliv * (media_sent / all_sent) / cap : 0;
    res->qd_p50_ms = hc_linksim_qdelay_quantile(s->link, 0.50) / 1000.0;
    res->qd_p95_ms = hc_linksim_qdelay_quantile(s->link, 0.95) / 1000.0;
    hc_linksim_stats_t ls;
    hc_linksim_stats(s->link, &ls);
    res->qd_max_ms = ls.qdelay_max_us / 1000.0;
    hc_pacer_stats_t ps;
    hc_pacer_stats(s->pacer, &ps);
    res->pacer_drops = ps.dropped_video_pkts;
    hc_bwe_state(s->bwe, &res->st);
}

static void sim_free(sim_t *s)
{
    hc_bwe_destroy(&s->bwe);
    hc_pacer_destroy(&s->pacer);
    hc_linksim_destroy(&s->link);
    free(s->sent_all);
    free(s->sent_media);
    free(s->delivered);
    free(s->target);
    free(s->npk);
    free(s->nlate);
}

/* Send rate (bit/s) over the window (t - w, t] from per-bin bytes. */
static double rate_at(const sim_t *s, const double *bins, uint64_t t, uint64_t w)
{
    size_t e = bin_of(t), n = (size_t)(w / BIN_US);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        if (e >= i && e - i < s->nbins) sum += bins[e - i];
    return sum * 8e6 / (double)w;
}

/* Seconds after t0 until everything sent over the last 200 ms (padding
 * included) is below cap; -1 when that never happens before t1. The window
 * counts against the sender: a sender that cut its rate at once still
 * shows about 0.2 s. */
static double drop_time(const sim_t *s, uint64_t t0, uint64_t t1, double cap)
{
    for (uint64_t t = t0 + BIN_US; t < t1; t += BIN_US)
        if (rate_at(s, s->sent_all, t, 200 * MS) < cap) return (double)(t - t0) / 1e6;
    return -1;
}

/* Seconds after t0 until the media sent over 500 ms (no padding) reaches
 * frac x cap and stays there for a whole second; -1 when never before t1. */
static double rise_time(const sim_t *s, uint64_t t0, uint64_t t1, double cap, double frac)
{
    for (uint64_t t = t0 + BIN_US; t + S < t1; t += BIN_US) {
        bool ok = true;
        for (uint64_t u = t; u <= t + S && ok; u += BIN_US)
            ok = rate_at(s, s->sent_media, u, 500 * MS) >= frac * cap;
        if (ok) return (double)(t - t0) / 1e6;
    }
    return -1;
}

static bool verbose(void)
{
    return getenv("HC_SIM_VERBOSE") != NULL;
}

/* RFC 8867 §5.1 (variable available capacity, single flow): 1 -> 2.5 ->
 * 0.6 -> 1 Mbit/s at 0, 40, 60, 80 s; 50 ms one-way delay; a 300 ms
 * drop-tail queue (hc-impair's default). Targets: under a lower capacity
 * within 1 s, 80 % of a higher one within 5 s, p95 queuing delay <= 150 ms,
 * utilisation >= 80 %. */
START_TEST(sim_rfc8867_steps)
{
    simcfg_t c = {.name = "rfc8867-5.1", .duration_us = 100 * S, .delay_us = 50 * MS, .seed = 11};
    c.nsteps = 4;
    c.step_at[0] = 0, c.step_bps[0] = 1000000;
    c.step_at[1] = 40 * S, c.step_bps[1] = 2500000;
    c.step_at[2] = 60 * S, c.step_bps[2] = 600000;
    c.step_at[3] = 80 * S, c.step_bps[3] = 1000000;
    c.verbose = verbose();
    static sim_t s;
    simres_t r;
    sim_run(&c, &s, &r);
    double start = rise_time(&s, 0, 40 * S, 1000000, 0.8);
    double rise = rise_time(&s, 40 * S, 60 * S, 2500000, 0.8);
    double drop = drop_time(&s, 60 * S, 80 * S, 600000);
    double rise2 = rise_time(&s, 80 * S, 100 * S, 1000000, 0.8);
    printf("sim %s: start80_s=%.2f rise80_s=%.2f drop_s=%.2f rise80_0.6to1_s=%.2f util=%.3f "
           "util_media=%.3f qdelay_p50_ms=%.1f qdelay_p95_ms=%.1f qdelay_max_ms=%.1f "
           "pacer_drops=%llu probes=%llu/%llu decreases=%llu\n",
           c.name, start, rise, drop, rise2, r.util, r.util_media, r.qd_p50_ms, r.qd_p95_ms,
           r.qd_max_ms, (unsigned long long)r.pacer_drops, (unsigned long long)r.st.probes_valid,
           (unsigned long long)r.st.probes, (unsigned long long)r.st.overuses);
    fflush(stdout);
    ck_assert_msg(drop >= 0 && drop <= 1.0, "drop %.2f s", drop);
    ck_assert_msg(rise >= 0 && rise <= 5.0, "rise80 %.2f s", rise);
    ck_assert_msg(rise2 >= 0 && rise2 <= 5.0, "rise80 (0.6 -> 1) %.2f s", rise2);
    ck_assert_msg(r.qd_p95_ms <= 150.0, "p95 queuing delay %.1f ms", r.qd_p95_ms);
    ck_assert_msg(r.util >= 0.80, "utilisation %.3f", r.util);
    sim_free(&s);
}
END_TEST

/* A constant 1.5 Mbit/s link losing 5 % of packets at random: the loss is
 * the radio's, the rate must not collapse (>= 70 % utilisation). */
START_TEST(sim_random_loss)
{
    simcfg_t c = {.name = "loss5", .duration_us = 60 * S, .delay_us = 50 * MS, .seed = 31};
    c.nsteps = 1;
    c.step_at[0] = 0, c.step_bps[0] = 1500000;
    c.loss = 0.05;
    c.verbose = verbose();
    static sim_t s;
    simres_t r;
    sim_run(&c, &s, &r);
    printf("sim %s: util=%.3f util_media=%.3f qdelay_p95_ms=%.1f loss=%.3f congestive=%d\n", c.name,
           r.util, r.util_media, r.qd_p95_ms, r.st.loss, r.st.loss_congestive);
    fflush(stdout);
    ck_assert_msg(r.util >= 0.70, "utilisation %.3f under 5%% random loss", r.util);
    sim_free(&s);
}
END_TEST

/* 20 % random loss is beyond what repair covers: the rate goes down by the
 * policy's 10 %, once, and does not walk down to the floor. */
START_TEST(sim_random_loss_heavy)
{
    simcfg_t c = {.name = "loss20", .duration_us = 40 * S, .delay_us = 50 * MS, .seed = 33};
    c.nsteps = 1;
    c.step_at[0] = 0, c.step_bps[0] = 1500000;
    c.loss = 0.20;
    c.verbose = verbose();
    static sim_t s;
    simres_t r;
    sim_run(&c, &s, &r);
    printf("sim %s: util=%.3f qdelay_p95_ms=%.1f loss=%.3f target=%u\n", c.name, r.util,
           r.qd_p95_ms, r.st.loss, r.st.target_bps);
    fflush(stdout);
    ck_assert_msg(r.util >= 0.50, "utilisation %.3f under 20%% random loss", r.util);
    sim_free(&s);
}
END_TEST

/* A 30 s outage on a 1.5 Mbit/s link: the target holds, then decays to a
 * floor, and the send rate is back (80 % of capacity, held for a second)
 * within 2 s of the link's return. */
START_TEST(sim_outage)
{
    const uint64_t from = 20 * S, to = 50 * S;
    simcfg_t c = {.name = "outage30", .duration_us = 65 * S, .delay_us = 50 * MS, .seed = 41};
    c.nsteps = 1;
    c.step_at[0] = 0, c.step_bps[0] = 1500000;
    c.out_from = from, c.out_to = to;
    c.verbose = verbose();
    static sim_t s;
    simres_t r;
    sim_run(&c, &s, &r);
    /* The last feedback arrives about a round trip after the link died. */
    double before = s.target[bin_of(from + 200 * MS)];
    double held = s.target[bin_of(from + 1900 * MS)];
    double late = s.target[bin_of(to - 100 * MS)];
    double back = rise_time(&s, to, 65 * S, 1500000, 0.8);
    printf("sim %s: target_before=%.0f held_at_1.9s=%.0f at_end=%.0f recover80_s=%.2f util=%.3f\n",
           c.name, before, held, late, back, r.util);
    fflush(stdout);
    ck_assert_msg(held >= 0.99 * before, "target not held: %.0f -> %.0f", before, held);
    ck_assert_msg(late < held && late >= 0.25 * before, "no decay to a floor: %.0f", late);
    ck_assert_msg(back >= 0 && back <= 2.0, "recovery took %.2f s", back);
    sim_free(&s);
}
END_TEST

static uint32_t *load_trace(const char *name, size_t *n)
{
    const char *dir = hc_test_traces_dir();
    if (!dir) return NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    ck_assert_int_ge(len, 0);
    ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
    char *text = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    size_t cnt = 0;
    ck_assert_int_eq(hc_linksim_trace_parse(text, (size_t)len, NULL, 0, &cnt), 0);
    uint32_t *ms = malloc(cnt * sizeof *ms);
    ck_assert_ptr_nonnull(ms);
    ck_assert_int_eq(hc_linksim_trace_parse(text, (size_t)len, ms, cnt, n), 0);
    free(text);
    return ms;
}

/*
 * Real cellular uplink traces (Mahimahi), scaled to a rural 0.5-2 Mbit/s,
 * 50 ms one-way delay as in RFC 8867 §5.1, 300 ms drop-tail queue at the
 * trace's mean rate (hc-impair's default).
 *
 * The targets (utilisation >= 0.80, p95 queuing delay <= 150 ms) are NOT
 * met on these traces in simulation, and the assertions below are not the
 * targets: they are regression guards just outside the figures reached
 * (over seeds 21-29: Verizon utilisation 0.72-0.77 at a p95 of 185-260 ms;
 * AT&T 0.42-0.47 at 620-820 ms). Each run prints the target comparison
 * and, as a yardstick, what a sender told the link's capacity over 100 ms
 * a round trip late (150 ms) achieves in the same simulation: on the
 * Verizon trace that oracle, at 0.7 x capacity, gets utilisation 0.73 at a
 * p95 near 200 ms - no better than the estimator. On the AT&T trace, whose
 * capacity drops to nothing for seconds at a time, even an oracle told the
 * capacity with no delay stays above 370 ms at every gain from 0.6 to 0.8:
 * packets queued when the link stalls wait out the stall.
 */
static void run_trace(const char *file, double scale, uint64_t seed, double util_floor,
                      double p95_ceiling_ms)
{
    size_t n = 0;
    uint32_t *ms = load_trace(file, &n);
    if (!ms) {
        printf("sim trace %s: skipped (traces folder absent)\n", file);
        return;
    }
    simcfg_t c = {.name = file, .duration_us = 120 * S, .delay_us = 50 * MS, .seed = seed};
    c.trace = ms;
    c.trace_n = n;
    c.scale = scale;
    c.verbose = verbose();
    static sim_t s;
    simres_t r, o;
    sim_run(&c, &s, &r);
    sim_free(&s);
    c.verbose = false;
    c.oracle_gain = 0.7;
    c.oracle_lag_us = 150 * MS;
    sim_run(&c, &s, &o);
    sim_free(&s);
    bool met = r.util >= 0.80 && r.qd_p95_ms <= 150.0;
    printf("sim trace %s x%.2f: util=%.3f util_media=%.3f qdelay_p50_ms=%.1f qdelay_p95_ms=%.1f "
           "qdelay_max_ms=%.1f probes=%llu/%llu decreases=%llu | target util>=0.80 p95<=150ms: %s "
           "| lagged oracle x0.7: util=%.3f qdelay_p95_ms=%.1f\n",
           file, scale, r.util, r.util_media, r.qd_p50_ms, r.qd_p95_ms, r.qd_max_ms,
           (unsigned long long)r.st.probes_valid, (unsigned long long)r.st.probes,
           (unsigned long long)r.st.overuses, met ? "met" : "NOT MET", o.util, o.qd_p95_ms);
    fflush(stdout);
    free(ms);
    ck_assert_msg(r.util >= util_floor, "%s: utilisation %.3f (regression floor %.2f)", file,
                  r.util, util_floor);
    ck_assert_msg(r.qd_p95_ms <= p95_ceiling_ms, "%s: p95 queuing delay %.1f ms (regression %.0f)",
                  file, r.qd_p95_ms, p95_ceiling_ms);
}

START_TEST(sim_trace_verizon)
{
    run_trace("verizon-lte-short.up", 0.25, 21, 0.68, 280.0);
}
END_TEST

START_TEST(sim_trace_att)
{
    run_trace("att-lte-driving-2016.up", 0.5, 22, 0.38, 900.0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("bwe");
    TCase *tc = tcase_create("blocks");
    tcase_add_test(tc, groups_by_send_burst);
    tcase_add_test(tc, groups_join_arrival_bursts);
    tcase_add_test(tc, trend_flat_and_rising);
    tcase_add_test(tc, detector_states);
    tcase_add_test(tc, detector_threshold_adapts);
    tcase_add_test(tc, loss_policy_congestive);
    tcase_add_test(tc, loss_policy_random);
    suite_add_tcase(s, tc);

    TCase *est = tcase_create("estimator");
    tcase_add_test(est, bwe_acked_rate_and_increase);
    tcase_add_test(est, bwe_decrease_on_queue);
    tcase_add_test(est, bwe_bursty_decrease);
    tcase_add_test(est, bwe_random_loss_tolerated);
    tcase_add_test(est, bwe_congestion_answered_once);
    tcase_add_test(est, bwe_probe_result);
    tcase_add_test(est, bwe_outage_hold_decay_restore);
    tcase_add_test(est, bwe_outage_losses_not_counted);
    tcase_add_test(est, bwe_reference_time_wraps);
    tcase_add_test(est, bwe_unknown_and_repeated);
    tcase_add_test(est, bwe_api_errors);
    tcase_add_test(est, bwe_rr_loss_without_twcc);
    suite_add_tcase(s, est);

    TCase *sim = tcase_create("sim");
    tcase_set_timeout(sim, 240);
    tcase_add_test(sim, sim_rfc8867_steps);
    tcase_add_test(sim, sim_random_loss);
    tcase_add_test(sim, sim_random_loss_heavy);
    tcase_add_test(sim, sim_outage);
    tcase_add_test(sim, sim_trace_verizon);
    tcase_add_test(sim, sim_trace_att);
    suite_add_tcase(s, sim);
    return s;
}

HC_TEST_MAIN(suite)
