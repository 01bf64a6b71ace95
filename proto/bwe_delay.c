/*
 * bwe_delay.c - packet groups, trendline and overuse detector of the
 * delay-based estimator (see bwe.h; draft-ietf-rmcat-gcc-02 §5.2-§5.4 in
 * libwebrtc's send-side form).
 */
#include "proto/bwe.h"

#include <math.h>
#include <string.h>

#define GROUP_US          5000   /* §5.2 burst time */
#define BURST_ARRIVAL_US  5000   /* arrivals this close may join a burst */
#define MAX_BURST_US      100000 /* a burst never spans more than this */
#define TREND_SMOOTHING   0.9
#define TREND_GAIN        4.0
#define TREND_MIN_DELTAS  60
#define DELTA_COUNTER_MAX 1000
#define THRESH_INIT_MS    12.5
#define THRESH_MIN_MS     6.0
#define THRESH_MAX_MS     600.0
#define K_UP              0.0087
#define K_DOWN            0.039
#define MAX_ADAPT_OFFSET  15.0
#define OVERUSE_TIME_MS   10.0

/* --- packet groups ------------------------------------------------------- */

static void group_start(hc_bwe_group_t *g, uint64_t send_us, int64_t arr, size_t bytes)
{
    g->first_send_us = g->last_send_us = send_us;
    g->first_arrival_us = g->last_arrival_us = arr;
    g->bytes = bytes;
    g->packets = 1;
}

/* A packet that arrives right after the group and "too early" for its send
 * spacing was queued behind it (a radio burst): it belongs to the group. */
static bool belongs_to_burst(const hc_bwe_group_t *g, uint64_t send_us, int64_t arr)
{
    int64_t arrival_delta = arr - g->last_arrival_us;
    int64_t send_delta = (int64_t)(send_us - g->last_send_us);
    if (send_delta == 0) return true;
    int64_t propagation_delta = arrival_delta - send_delta;
    return propagation_delta < 0 && arrival_delta <= BURST_ARRIVAL_US &&
           arr - g->first_arrival_us < MAX_BURST_US;
}

bool hc_bwe_interarrival_add(hc_bwe_interarrival_t *ia, uint64_t send_us, int64_t arr, size_t bytes,
                             hc_bwe_delta_t *out)
{
    if (!ia->have_cur) {
        group_start(&ia->cur, send_us, arr, bytes);
        ia->have_cur = true;
        return false;
    }
    if (send_us < ia->cur.first_send_us) return false; /* reordered: ignore */
    bool same =
        send_us - ia->cur.first_send_us <= GROUP_US || belongs_to_burst(&ia->cur, send_us, arr);
    if (same) {
        if (send_us > ia->cur.last_send_us) ia->cur.last_send_us = send_us;
        if (arr > ia->cur.last_arrival_us) ia->cur.last_arrival_us = arr;
        ia->cur.bytes += bytes;
        ia->cur.packets++;
        return false;
    }
    bool done = false;
    if (ia->have_prev) {
        out->send_delta_ms = (double)(ia->cur.last_send_us - ia->prev.last_send_us) / 1000.0;
        out->arrival_delta_ms =
            (double)(ia->cur.last_arrival_us - ia->prev.last_arrival_us) / 1000.0;
        out->arrival_ms = (double)ia->cur.last_arrival_us / 1000.0;
        out->packets = ia->cur.packets;
        done = true;
    }
    ia->prev = ia->cur;
    ia->have_prev = true;
    group_start(&ia->cur, send_us, arr, bytes);
    return done;
}

/* --- trendline ----------------------------------------------------------- */

void hc_bwe_trend_init(hc_bwe_trend_t *t)
{
    memset(t, 0, sizeof *t);
}

static double fit_slope(const hc_bwe_trend_t *t)
{
    double sx = 0, sy = 0;
    for (size_t i = 0; i < t->n; i++) {
        sx += t->x[i];
        sy += t->y[i];
    }
    double mx = sx / (double)t->n, my = sy / (double)t->n;
    double num = 0, den = 0;
    for (size_t i = 0; i < t->n; i++) {
        num += (t->x[i] - mx) * (t->y[i] - my);
        den += (t->x[i] - mx) * (t->x[i] - mx);
    }
    return den == 0 ? NAN : num / den;
}

double hc_bwe_trend_update(hc_bwe_trend_t *t, double arrival_ms, double delay_delta_ms)
{
    if (!t->started) {
        t->first_arrival_ms = arrival_ms;
        t->started = true;
    }
    if (t->num_deltas < DELTA_COUNTER_MAX) t->num_deltas++;
    t->acc_ms += delay_delta_ms;
    t->smoothed_ms = TREND_SMOOTHING * t->smoothed_ms + (1 - TREND_SMOOTHING) * t->acc_ms;
    size_t i;
    if (t->n < HC_BWE_TREND_WINDOW) {
        i = t->n++;
    } else {
        i = t->head;
        t->head = (t->head + 1) % HC_BWE_TREND_WINDOW;
    }
    t->x[i] = arrival_ms - t->first_arrival_ms;
    t->y[i] = t->smoothed_ms;
    if (t->n == HC_BWE_TREND_WINDOW) {
        double s = fit_slope(t);
        if (!isnan(s)) t->slope = s;
    }
    return t->slope;
}

/* --- overuse detector ------------------------------------------------------ */

void hc_bwe_detector_init(hc_bwe_detector_t *d)
{
    memset(d, 0, sizeof *d);
    d->threshold_ms = THRESH_INIT_MS;
    d->time_over_ms = -1;
    d->usage = HC_BWE_NORMAL;
}

/* §5.4: the threshold follows |trend| slowly up and faster down, so it
 * rises out of the way of a competing TCP flow's sawtooth but not of a
 * real queue; outliers far above it do not move it. */
static void update_threshold(hc_bwe_detector_t *d, double m, double now_ms)
{
    if (!d->have_update) {
        d->last_update_ms = now_ms;
        d->have_update = true;
    }
    if (fabs(m) > d->threshold_ms + MAX_ADAPT_OFFSET) {
        d->last_update_ms = now_ms;
        return;
    }
    double k = fabs(m) < d->threshold_ms ? K_DOWN : K_UP;
    double dt = now_ms - d->last_update_ms;
    if (dt > 100) dt = 100;
    if (dt < 0) dt = 0;
    d->threshold_ms += k * (fabs(m) - d->threshold_ms) * dt;
    if (d->threshold_ms < THRESH_MIN_MS) d->threshold_ms = THRESH_MIN_MS;
    if (d->threshold_ms > THRESH_MAX_MS) d->threshold_ms = THRESH_MAX_MS;
    d->last_update_ms = now_ms;
}

hc_bwe_usage_t hc_bwe_detector_update(hc_bwe_detector_t *d, double slope, uint32_t num_deltas,
                                      double send_delta_ms, double now_ms)
{
    if (num_deltas < 2) {
        d->usage = HC_BWE_NORMAL;
        return d->usage;
    }
    double n = num_deltas < TREND_MIN_DELTAS ? num_deltas : TREND_MIN_DELTAS;
    double m = n * slope * TREND_GAIN;
    d->modified_trend = m;
    if (m > d->threshold_ms) {
        if (d->time_over_ms < 0)
            d->time_over_ms = send_delta_ms / 2;
        else
            d->time_over_ms += send_delta_ms;
        d->over_count++;
        if (d->time_over_ms > OVERUSE_TIME_MS && d->over_count > 1 && slope >= d->prev_slope) {
            d->time_over_ms = 0;
            d->over_count = 0;
            d->usage = HC_BWE_OVERUSE;
        }
    } else if (m < -d->threshold_ms) {
        d->time_over_ms = -1;
        d->over_count = 0;
        d->usage = HC_BWE_UNDERUSE;
    } else {
        d->time_over_ms = -1;
        d->over_count = 0;
        d->usage = HC_BWE_NORMAL;
    }
    d->prev_slope = slope;
    update_threshold(d, m, now_ms);
    return d->usage;
}
