/*
 * bwe.c - send-side bandwidth estimator: feedback mapping, rate control,
 * probing, outage handling (see bwe.h). The packet groups, trendline and
 * detector are in bwe_delay.c, the loss policy in bwe_loss.c.
 */
#include "proto/bwe.h"

#include "proto/err.h"
#include "proto/seq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/*
 * Constants. Chosen with the closed-loop simulations in tests/unit/test_bwe.c
 * (RFC 8867 §5.1 steps, random loss, outage, cellular traces); the comments
 * say what each one trades.
 */

/* Rate control (GCC §5.5) */
#define BETA            0.85 /* overuse: 0.85 x acknowledged rate */
#define MULT_PER_S      1.08 /* multiplicative increase far from congestion, per second */
#define FAST_MULT_PER_S 1.30 /* ... when the queue has been empty for a while */
#define FAST_QD_MS      5.0
#define FAST_QUIET_US   500000
#define ACKED_CAP_MUL   1.5 /* never more than 1.5 x acked + 10 kbit/s */
#define ACKED_CAP_ADD   10000.0
#define MIN_DECREASE_US 50000 /* decreases at least this far apart */

/* Hillcast: queuing-delay guards (ms) */
#define QD_TRACK_LO_MS  3.0   /* from here to QD_HOLD_MS: follow the acked rate */
#define TRACK_GAIN      0.97  /* a little under, so the queue does not creep up */
#define APP_LIMITED     0.6   /* sending less than this x the estimate: limited by the source */
#define QD_UNDER_MS     5.0   /* underuse with less queue than this is normal */
#define QD_DRAINED_MS   10.0  /* the queue built before a decrease is gone */
#define QD_TREND_MIN_MS 15.0  /* a rising trend with less queue is noise */
#define QD_PROBE_MS     20.0  /* periodic probes only with less queue */
#define QD_HOLD_MS      25.0  /* no increase with more queue */
#define QD_OVERUSE_MS   40.0  /* a standing queue this long is overuse */
#define QD_CONGESTED_MS 50.0  /* loss among packets that waited this long is congestion */
#define DRAIN_MS        500.0 /* a decrease empties the queue in about this */
#define DRAIN_FLOOR     0.3   /* but never below 0.3 x the delivery rate */
#define RECOVER_FRAC    0.9   /* once drained, back to 0.9 x the congested delivery rate */
#define RECOVER_KEEP_US 3000000

/* Base (minimum) one-way delay window: BASE_N buckets of BASE_US. */
#define BASE_N  10
#define BASE_US 1000000

/* Timed buckets for acked rate (arrival time), send rate and loss. */
#define RB_N          64
#define RATE_BKT_US   20000
#define ACKED_WIN     500000
#define ACKED_SHORT   100000 /* decreases and tracking look at the last 100 ms */
#define SENT_WIN      500000
#define LOSS_BKT_US   20000
#define LOSS_WIN      1000000
#define LOSS_MIN_PKTS 40
#define RR_FRESH_US   5000000

/* Outage */
#define FB_TIMEOUT_US 1000000 /* no feedback this long: outage */
#define OUT_HOLD_US   1000000 /* then hold this long */
#define OUT_HALF_US   2000000 /* then halve every this */
#define OUT_FLOOR     0.3

/* Probing */
#define NCLUSTERS         4
#define PROBE_START_MUL   3.0
#define PROBE_FURTHER_MUL 2.0
#define PROBE_PERIOD_MUL  2.0
#define PROBE_PERIOD_US   1500000
#define PROBE_QUIET_US    1000000 /* no decrease for this long before a periodic probe */
#define PROBE_TIMEOUT_US  1000000
#define PROBE_ATTACH_US   200000 /* probe packets after this belong to no cluster */
#define PROBE_FULL_FRAC   0.85   /* a result this close to the probe rate: probe further */
#define PROBE_MIN_RECV    4

#define DEFAULT_RTT_US 100000

enum { REC_SENT = 1, REC_RECV = 2, REC_LOST = 4, REC_NOLOSS = 8, REC_FRESH = 16 };
enum { RC_HOLD, RC_INCREASE };

typedef struct rec {
    uint64_t send_us;
    int64_t ext;
    uint32_t bytes;
    uint16_t cluster;
    uint8_t flags;
} rec_t;

typedef struct rb {
    int64_t idx[RB_N];
    double a[RB_N], b[RB_N];
    int64_t width;
} rb_t;

typedef struct cluster {
    uint16_t id;
    bool used, closed, evaluated;
    double rate;
    uint64_t start_us;
    uint32_t sent_pkts, reported, recv_pkts;
    uint64_t sent_bytes, recv_bytes;
    uint64_t first_send, last_send;
    uint32_t last_send_bytes;
    int64_t first_arr, last_arr;
    uint32_t first_arr_bytes;
} cluster_t;

struct hc_bwe {
    hc_bwe_cfg_t cfg;
    bool bursty; /* hc_bwe_set_bursty() */
    rec_t *hist;
    size_t mask;
    hc_seq_unwrap_t su;
    bool any_sent;
    int64_t last_sent_ext;
    uint64_t last_sent_us, first_sent_us;

    bool have_ref;
    int32_t last_ref;
    int64_t ref_ext;
    bool any_fb;
    uint64_t last_fb_us;
    int64_t highest_reported;
    bool have_reported;

    hc_bwe_interarrival_t ia;
    hc_bwe_trend_t trend;
    hc_bwe_detector_t det;
    uint64_t last_overuse_us;
    bool ever_overuse;

    int64_t base_min[BASE_N], base_idx[BASE_N];
    double qdelay_ms;

    rb_t acked, sent, lossb, closs;
    int64_t last_arr, first_arr;
    bool have_arr;

    double delay_bps;
    int rc;
    bool rc_started;
    uint64_t last_rc_us, last_decrease_us;
    bool ever_decreased;
    double cap_kbps, cap_dev;
    bool cap_valid;
    double recover_bps;
    uint64_t recover_until_us;

    hc_bwe_loss_t lossc;
    double loss;
    double rr_loss;
    uint64_t rr_us;
    bool have_rr;

    bool outage;
    uint64_t outage_us;
    double pre_outage_bps;

    cluster_t cl[NCLUSTERS];
    uint16_t next_cluster;
    uint16_t active; /* cluster taking probe packets; 0 none */
    bool initial_probed;
    double further_bps;
    double asked_bps; /* hc_bwe_request_probe() */
    uint64_t next_periodic_us;
    double probe_result;

    uint32_t rtt_us;
    double target_bps;

    uint64_t n_fb, n_unknown, n_probes, n_probes_valid, n_overuse;
};

/* --- helpers ------------------------------------------------------------- */

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

static void rb_init(rb_t *r, int64_t width)
{
    for (int i = 0; i < RB_N; i++) {
        r->idx[i] = INT64_MIN;
        r->a[i] = r->b[i] = 0;
    }
    r->width = width;
}

static void rb_add(rb_t *r, int64_t t, double a, double b)
{
    int64_t i = floordiv(t, r->width);
    size_t s = (size_t)(i & (RB_N - 1));
    if (r->idx[s] != i) {
        r->idx[s] = i;
        r->a[s] = r->b[s] = 0;
    }
    r->a[s] += a;
    r->b[s] += b;
}

/* Sums over buckets in the window ending at t_end; *span_us is the time from
 * the start of the first bucket to t_end. */
static void rb_sum(const rb_t *r, int64_t t_end, int64_t window, double *a, double *b,
                   int64_t *span_us)
{
    int64_t last = floordiv(t_end, r->width);
    int64_t k = window / r->width;
    if (k < 1) k = 1;
    if (k > RB_N - 1) k = RB_N - 1;
    double sa = 0, sb = 0;
    for (int64_t i = last - k + 1; i <= last; i++) {
        size_t s = (size_t)(i & (RB_N - 1));
        if (r->idx[s] == i) {
            sa += r->a[s];
            sb += r->b[s];
        }
    }
    if (a) *a = sa;
    if (b) *b = sb;
    if (span_us) *span_us = t_end - (last - k + 1) * r->width;
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static rec_t *find(hc_bwe_t *b, uint16_t seq)
{
    rec_t *r = &b->hist[seq & b->mask];
    if (!(r->flags & REC_SENT) || (uint16_t)r->ext != seq) return NULL;
    return r;
}

static cluster_t *cluster_by_id(hc_bwe_t *b, uint16_t id)
{
    if (id == 0) return NULL;
    cluster_t *c = &b->cl[id % NCLUSTERS];
    return c->used && c->id == id ? c : NULL;
}

/* --- lifecycle ----------------------------------------------------------------- */

void hc_bwe_cfg_default(hc_bwe_cfg_t *cfg)
{
    if (!cfg) return;
    cfg->min_bps = 50000;
    cfg->max_bps = 10000000;
    cfg->start_bps = 300000;
    cfg->history = 8192;
}

int hc_bwe_new(hc_bwe_t **out, const hc_bwe_cfg_t *cfg, uint64_t now_us)
{
    if (!out) return -HC_EINVAL;
    hc_bwe_cfg_t d, c;
    hc_bwe_cfg_default(&d);
    c = cfg ? *cfg : d;
    if (!c.min_bps) c.min_bps = d.min_bps;
    if (!c.max_bps) c.max_bps = d.max_bps;
    if (!c.start_bps) c.start_bps = d.start_bps < c.min_bps ? c.min_bps : d.start_bps;
    if (!c.history) c.history = d.history;
    if (c.min_bps > c.max_bps || c.start_bps < c.min_bps || c.start_bps > c.max_bps)
        return -HC_EINVAL;
    size_t n = 256;
    while (n < c.history && n < 65536) n <<= 1;
    c.history = n;

    hc_bwe_t *b = calloc(1, sizeof *b);
    if (!b) return -HC_ENOMEM;
    b->hist = calloc(n, sizeof *b->hist);
    if (!b->hist) {
        free(b);
        return -HC_ENOMEM;
    }
    b->cfg = c;
    b->mask = n - 1;
    hc_seq_unwrap_init(&b->su);
    hc_bwe_trend_init(&b->trend);
    hc_bwe_detector_init(&b->det);
    for (int i = 0; i < BASE_N; i++) {
        b->base_idx[i] = INT64_MIN;
        b->base_min[i] = INT64_MAX;
    }
    rb_init(&b->acked, RATE_BKT_US);
    rb_init(&b->sent, RATE_BKT_US);
    rb_init(&b->lossb, LOSS_BKT_US);
    rb_init(&b->closs, LOSS_BKT_US);
    b->delay_bps = c.start_bps;
    b->rc = RC_HOLD;
    hc_bwe_loss_init(&b->lossc, c.max_bps);
    b->rtt_us = DEFAULT_RTT_US;
    b->target_bps = c.start_bps;
    b->next_cluster = 1;
    b->next_periodic_us = now_us + PROBE_PERIOD_US;
    b->last_fb_us = now_us;
    *out = b;
    return 0;
}

void hc_bwe_destroy(hc_bwe_t **bp)
{
    if (!bp || !*bp) return;
    free((*bp)->hist);
    free(*bp);
    *bp = NULL;
}

/* --- measurements --------------------------------------------------------------- */

static bool acked_rate(const hc_bwe_t *b, int64_t window, double *bps)
{
    if (!b->have_arr) return false;
    int64_t have = b->last_arr - b->first_arr;
    if (have < window) return false; /* too little history to trust */
    double bytes;
    int64_t span;
    rb_sum(&b->acked, b->last_arr, window, &bytes, NULL, &span);
    if (span > have + RATE_BKT_US) span = have + RATE_BKT_US;
    if (span <= 0) return false;
    *bps = bytes * 8e6 / (double)span;
    return true;
}

static double sent_rate(const hc_bwe_t *b, uint64_t now)
{
    if (!b->any_sent) return 0;
    double bytes;
    int64_t span;
    rb_sum(&b->sent, (int64_t)now, SENT_WIN, &bytes, NULL, &span);
    int64_t have = (int64_t)(now - b->first_sent_us) + RATE_BKT_US;
    if (span > have) span = have;
    return span > 0 ? bytes * 8e6 / (double)span : 0;
}

/* Loss of the packets sent in the last second, but only those sent after
 * the last decrease: loss of packets sent at a rate already given up is
 * old news (Hillcast; without it the delay and the loss controller both
 * answer the same overshoot). */
static void loss_window(hc_bwe_t *b, uint64_t now, double *loss, bool *known, bool *cong)
{
    double lost, total, clost;
    int64_t win = LOSS_WIN;
    if (b->ever_decreased && now - b->last_decrease_us < (uint64_t)win)
        win = (int64_t)(now - b->last_decrease_us);
    if (b->last_decrease_us > now) win = 0;
    rb_sum(&b->lossb, (int64_t)now, win, &lost, &total, NULL);
    rb_sum(&b->closs, (int64_t)now, win, &clost, NULL, NULL);
    *cong = lost > 0 && clost >= 0.5 * lost;
    if (total >= LOSS_MIN_PKTS) {
        *loss = clampd(lost / total, 0, 1);
        *known = true;
    } else if (b->have_rr && now - b->rr_us < RR_FRESH_US &&
               (!b->any_fb || now - b->last_fb_us > LOSS_WIN)) {
        /* No transport-wide feedback lately: the receiver report is all
         * there is. */
        *loss = b->rr_loss;
        *known = true;
    } else {
        *loss = 0;
        *known = false;
    }
}

static void base_update(hc_bwe_t *b, uint64_t send_us, int64_t owd)
{
    int64_t i = (int64_t)(send_us / BASE_US);
    size_t s = (size_t)(i % BASE_N);
    if (b->base_idx[s] != i) {
        b->base_idx[s] = i;
        b->base_min[s] = INT64_MAX;
    }
    if (owd < b->base_min[s]) b->base_min[s] = owd;
}

static int64_t base_get(const hc_bwe_t *b, uint64_t now)
{
    int64_t cur = (int64_t)(now / BASE_US);
    int64_t m = INT64_MAX;
    for (int s = 0; s < BASE_N; s++)
        if (b->base_idx[s] > cur - BASE_N && b->base_min[s] < m) m = b->base_min[s];
    if (m == INT64_MAX) /* nothing recent (after an outage): anything we have */
        for (int s = 0; s < BASE_N; s++)
            if (b->base_min[s] < m) m = b->base_min[s];
    return m;
}

/* Link capacity estimate at the points of congestion (libwebrtc's
 * LinkCapacityEstimator): near it increases are additive. kbit/s. */
static void cap_update(hc_bwe_t *b, double bps)
{
    const double alpha = 0.05;
    double s = bps / 1000.0;
    if (!b->cap_valid) {
        b->cap_kbps = s;
        b->cap_dev = 0.4;
        b->cap_valid = true;
        return;
    }
    b->cap_kbps = (1 - alpha) * b->cap_kbps + alpha * s;
    double norm = b->cap_kbps > 1.0 ? b->cap_kbps : 1.0;
    double err = b->cap_kbps - s;
    b->cap_dev = clampd((1 - alpha) * b->cap_dev + alpha * err * err / norm, 0.4, 2.5);
}

static double cap_upper(const hc_bwe_t *b)
{
    return (b->cap_kbps + 3 * sqrt(b->cap_dev * b->cap_kbps)) * 1000.0;
}

static double cap_lower(const hc_bwe_t *b)
{
    return (b->cap_kbps - 3 * sqrt(b->cap_dev * b->cap_kbps)) * 1000.0;
}

/* --- rate control --------------------------------------------------------------- */

static void update_target(hc_bwe_t *b)
{
    /* Within [min, max] always: a multiplicative increase from nothing
     * would stay nothing. */
    b->delay_bps = clampd(b->delay_bps, b->cfg.min_bps, b->cfg.max_bps);
    double t = b->delay_bps;
    if (b->lossc.bound_bps < t) t = b->lossc.bound_bps;
    b->target_bps = clampd(t, b->cfg.min_bps, b->cfg.max_bps);
}

/* Loss judged random (not the queue's), capped: the share of what is sent
 * that never reaches the receiver whatever the rate. */
static double random_loss(const hc_bwe_t *b)
{
    double p = b->lossc.congestive ? 0 : b->loss;
    return p > 0.5 ? 0.5 : p;
}

static void decrease(hc_bwe_t *b, uint64_t now)
{
    double a1, a2, a;
    bool k1 = acked_rate(b, ACKED_SHORT, &a1), k2 = acked_rate(b, ACKED_WIN, &a2);
    if (b->bursty && k1) k2 = false; /* the burst's rate, not the quiet before it */
    if (k1 && k2)
        a = a1 < a2 ? a1 : a2;
    else if (k2 || k1)
        a = k2 ? a2 : a1;
    else
        a = b->delay_bps;
    /* Random loss took its share before the receiver could count it; the
     * sender has to send that much more to deliver the same. */
    if (k1 || k2) a /= 1.0 - random_loss(b);
    /* Hillcast: the queue that built up before the overuse was seen has to
     * go as well, within about DRAIN_MS; sending at the delivery rate minus
     * queue/DRAIN_MS does that. */
    double f = BETA;
    double drain = 1.0 - b->qdelay_ms / DRAIN_MS;
    if (drain < f && !b->bursty) f = drain;
    if (f < DRAIN_FLOOR) f = DRAIN_FLOOR;
    double nb = a * f;
    if (nb < b->delay_bps) b->delay_bps = nb;
    if (b->delay_bps < b->cfg.min_bps) b->delay_bps = b->cfg.min_bps;

    if (k1 || k2) {
        if (b->cap_valid && a < cap_lower(b)) b->cap_valid = false;
        cap_update(b, a);
        b->recover_bps = RECOVER_FRAC * a;
        b->recover_until_us = now + RECOVER_KEEP_US;
    }
    b->last_decrease_us = now;
    b->ever_decreased = true;
    b->rc = RC_HOLD;
    b->n_overuse++;
}

static void increase(hc_bwe_t *b, uint64_t now)
{
    double dt = (double)(now - b->last_rc_us) / 1e6;
    if (dt > 1.0) dt = 1.0;
    if (dt <= 0) return;
    double old = b->delay_bps, nb;
    if (b->cap_valid && old > cap_upper(b)) b->cap_valid = false;
    if (b->cap_valid) {
        /* About half a packet per response time (RTT + 100 ms, twice),
         * packets sized as frames of 30 fps cut at 1200 bytes. */
        double frame_bits = old / 30.0;
        double ppf = ceil(frame_bits / (1200.0 * 8));
        if (ppf < 1) ppf = 1;
        double pkt_bits = frame_bits / ppf;
        double resp_s = 2.0 * ((double)b->rtt_us / 1e6 + 0.1);
        double rate = pkt_bits / resp_s;
        if (rate < 4000) rate = 4000;
        nb = old + rate * dt;
    } else {
        /* Hillcast: a queue that has stayed empty says there is room; a
         * cellular link's capacity doubles within seconds, 8 %/s is for
         * wired paths. */
        double m = MULT_PER_S;
        if (b->qdelay_ms < FAST_QD_MS &&
            (!b->ever_overuse || now - b->last_overuse_us > FAST_QUIET_US))
            m = FAST_MULT_PER_S;
        nb = old * pow(m, dt);
    }
    double acked;
    if (acked_rate(b, ACKED_WIN, &acked)) {
        double lim = ACKED_CAP_MUL * acked + ACKED_CAP_ADD;
        if (nb > lim) nb = lim > old ? lim : old;
    }
    b->delay_bps = nb;
}

static void rate_control(hc_bwe_t *b, uint64_t now)
{
    if (!b->rc_started) {
        b->rc_started = true;
        b->last_rc_us = now;
    }
    hc_bwe_usage_t u = b->det.usage;
    /* Hillcast: a cellular link delivers in bursts, so the trend of a few
     * groups swings without any queue behind it; overuse needs a queue. */
    if (u == HC_BWE_OVERUSE && b->qdelay_ms < QD_TREND_MIN_MS) u = HC_BWE_NORMAL;
    if (b->qdelay_ms > QD_OVERUSE_MS) u = HC_BWE_OVERUSE;
    /* Underuse means a queue is draining: hold so it can. With no queue
     * left there is nothing to wait for. */
    if (u == HC_BWE_UNDERUSE && b->qdelay_ms < QD_UNDER_MS) u = HC_BWE_NORMAL;
    if (u == HC_BWE_OVERUSE) {
        b->last_overuse_us = now;
        b->ever_overuse = true;
        if (!b->ever_decreased || now - b->last_decrease_us >= MIN_DECREASE_US) decrease(b, now);
        b->rc = RC_HOLD;
    } else if (u == HC_BWE_UNDERUSE) {
        b->rc = RC_HOLD;
    } else {
        if (b->recover_bps > 0 && now > b->recover_until_us) b->recover_bps = 0;
        if (b->recover_bps > 0 && b->qdelay_ms < QD_DRAINED_MS) {
            if (b->delay_bps < b->recover_bps) b->delay_bps = b->recover_bps;
            b->recover_bps = 0;
        }
        double ash;
        if (b->qdelay_ms >= QD_TRACK_LO_MS && b->qdelay_ms <= QD_HOLD_MS &&
            acked_rate(b, ACKED_SHORT, &ash)) {
            /* Hillcast: a small standing queue means the link is busy, so
             * what arrives is what it carries now: follow it, up as well as
             * down. This tracks a cellular link's swings within 100 ms,
             * where increase/decrease steps lag by seconds. */
            double track = TRACK_GAIN * ash / (1.0 - random_loss(b));
            /* ...but only when we send what the estimate allows: a sender
             * limited by what it has (an encoder at its top rung, a relay
             * forwarding a low layer) delivers what it sends, which says
             * nothing about the capacity, and a few ms of jitter would
             * otherwise pin the estimate to its own rate for good. */
            if (track >= b->delay_bps || sent_rate(b, now) >= APP_LIMITED * b->delay_bps)
                b->delay_bps = track;
            b->rc = RC_INCREASE;
        } else if (b->rc == RC_HOLD) {
            b->rc = RC_INCREASE;
        } else if (b->qdelay_ms <= QD_HOLD_MS) {
            increase(b, now);
        }
    }
    if (b->delay_bps > b->cfg.max_bps) b->delay_bps = b->cfg.max_bps;
    b->last_rc_us = now;
}

static void loss_control(hc_bwe_t *b, uint64_t now)
{
    bool known, congestive;
    double loss;
    loss_window(b, now, &loss, &known, &congestive);
    b->loss = loss;
    hc_bwe_loss_update(&b->lossc, known ? loss : 0, congestive, b->target_bps, b->delay_bps,
                       b->cfg.max_bps, b->rtt_us, now);
}

/* --- outage --------------------------------------------------------------------- */

static void enter_outage(hc_bwe_t *b, uint64_t now)
{
    b->outage = true;
    b->outage_us = now;
    /* What the link carried just before is the better guess of what it
     * will carry again; the target may have been cut a moment earlier. */
    double a;
    b->pre_outage_bps = b->target_bps;
    if (acked_rate(b, ACKED_WIN, &a) && a > b->pre_outage_bps) b->pre_outage_bps = a;
    if (b->pre_outage_bps > b->cfg.max_bps) b->pre_outage_bps = b->cfg.max_bps;
    /* Whatever was sent after the last reported packet went into the dead
     * link: its loss is the outage's, not congestion. */
    int64_t from = b->have_reported ? b->highest_reported + 1 : b->last_sent_ext - (int64_t)b->mask;
    if (from < b->last_sent_ext - (int64_t)b->mask) from = b->last_sent_ext - (int64_t)b->mask;
    for (int64_t e = from; e <= b->last_sent_ext; e++) {
        rec_t *r = &b->hist[(size_t)e & b->mask];
        if ((r->flags & REC_SENT) && r->ext == e) r->flags |= REC_NOLOSS;
    }
    b->active = 0;
}

static void leave_outage(hc_bwe_t *b, uint64_t now)
{
    b->outage = false;
    double r = b->pre_outage_bps;
    if (b->delay_bps < r) b->delay_bps = r;
    if (b->lossc.bound_bps < r) b->lossc.bound_bps = r;
    /* Delay history from before the outage says nothing about the link now. */
    memset(&b->ia, 0, sizeof b->ia);
    hc_bwe_trend_init(&b->trend);
    b->det.usage = HC_BWE_NORMAL;
    b->det.time_over_ms = -1;
    b->det.over_count = 0;
    b->have_arr = false;
    b->rc = RC_HOLD;
    b->recover_bps = 0;
    /* A fresh start for the loss window and the periodic probe too. */
    b->last_decrease_us = now;
    b->ever_decreased = true;
    for (int i = 0; i < NCLUSTERS; i++)
        if (b->cl[i].used && !b->cl[i].evaluated) b->cl[i].evaluated = true;
}

static void outage_tick(hc_bwe_t *b, uint64_t now)
{
    if (!b->outage) {
        uint64_t ref = b->last_fb_us;
        if (b->any_sent && b->last_sent_us > ref && now > ref + FB_TIMEOUT_US &&
            now - b->first_sent_us > FB_TIMEOUT_US)
            enter_outage(b, now);
    }
    if (b->outage && now > b->outage_us + OUT_HOLD_US) {
        double t = (double)(now - b->outage_us - OUT_HOLD_US) / OUT_HALF_US;
        double f = pow(0.5, t);
        if (f < OUT_FLOOR) f = OUT_FLOOR;
        double r = b->pre_outage_bps * f;
        if (b->delay_bps > r) b->delay_bps = r;
    }
}

/* --- probing --------------------------------------------------------------------- */

static void probe_apply(hc_bwe_t *b, const cluster_t *c, double res)
{
    b->probe_result = res;
    b->n_probes_valid++;
    bool capped = res < PROBE_FULL_FRAC * c->rate;
    /* The path carried this much just now: jump, unless the queue says the
     * probe only measured a burst the link could not sustain. */
    if (b->det.usage != HC_BWE_OVERUSE && b->qdelay_ms < QD_OVERUSE_MS && res > b->delay_bps) {
        b->delay_bps = res > b->cfg.max_bps ? b->cfg.max_bps : res;
        b->rc = RC_HOLD;
        if (b->lossc.bound_bps < b->delay_bps && !b->lossc.congestive &&
            b->loss < HC_BWE_LOSS_RAND_LOW)
            b->lossc.bound_bps = b->delay_bps;
    }
    /* A probe that came back whole did not find the ceiling: look higher.
     * One that found it says no more; on a cellular link that ceiling may
     * be a lull of a few tens of milliseconds, so it does not become the
     * link capacity estimate either (only overuse sets that, as in
     * libwebrtc). */
    if (!capped && res * PROBE_FURTHER_MUL > b->delay_bps * 1.1)
        b->further_bps = res * PROBE_FURTHER_MUL;
}

static void probe_evaluate(hc_bwe_t *b, cluster_t *c)
{
    c->evaluated = true;
    /* Random loss takes some probe packets; the spacing of the rest still
     * tells the rate. */
    if (c->recv_pkts < PROBE_MIN_RECV || c->recv_pkts * 5 < c->sent_pkts * 3) return;
    double send_iv = (double)(c->last_send - c->first_send);
    double recv_iv = (double)(c->last_arr - c->first_arr);
    if (send_iv <= 0 || recv_iv <= 0 || send_iv > 1e6 || recv_iv > 1e6) return;
    double send_bps = (double)(c->sent_bytes - c->last_send_bytes) * 8e6 / send_iv;
    double recv_bps = (double)(c->recv_bytes - c->first_arr_bytes) * 8e6 / recv_iv;
    if (recv_bps > 2 * send_bps) return; /* arrivals bunched: not a measurement */
    double res = send_bps < recv_bps ? send_bps : recv_bps;
    if (recv_bps < 0.9 * send_bps) res = 0.95 * recv_bps;
    probe_apply(b, c, res);
}

static void probe_check(hc_bwe_t *b, uint64_t now)
{
    for (int i = 0; i < NCLUSTERS; i++) {
        cluster_t *c = &b->cl[i];
        if (!c->used || c->evaluated) continue;
        if (now - c->start_us > PROBE_ATTACH_US) c->closed = true;
        bool timeout = now - c->start_us > PROBE_TIMEOUT_US;
        if ((c->closed && c->sent_pkts && c->reported >= c->sent_pkts) || timeout)
            probe_evaluate(b, c);
    }
}

static bool probe_in_flight(const hc_bwe_t *b, uint64_t now)
{
    for (int i = 0; i < NCLUSTERS; i++) {
        const cluster_t *c = &b->cl[i];
        if (c->used && !c->evaluated && now - c->start_us <= PROBE_TIMEOUT_US) return true;
    }
    return false;
}

bool hc_bwe_probe_wanted(hc_bwe_t *b, uint64_t now, uint32_t *rate_bps)
{
    if (!b || !rate_bps) return false;
    probe_check(b, now);
    if (b->outage || probe_in_flight(b, now)) return false;
    double rate = 0;
    if (!b->initial_probed) {
        b->initial_probed = true;
        rate = PROBE_START_MUL * b->cfg.start_bps;
    } else if (b->further_bps > 0) {
        rate = b->further_bps;
        b->further_bps = 0;
    } else if (b->asked_bps > 0) {
        rate = b->asked_bps;
        b->asked_bps = 0;
        if (b->det.usage == HC_BWE_OVERUSE || b->qdelay_ms >= QD_PROBE_MS || b->lossc.congestive)
            rate = 0;
    } else if (now >= b->next_periodic_us && b->det.usage == HC_BWE_NORMAL &&
               (!b->ever_decreased || now - b->last_decrease_us > PROBE_QUIET_US) &&
               b->qdelay_ms < QD_PROBE_MS && !b->lossc.congestive &&
               b->loss < HC_BWE_LOSS_RAND_LOW && sent_rate(b, now) >= 0.6 * b->target_bps) {
        rate = PROBE_PERIOD_MUL * b->target_bps;
    }
    if (rate <= 0) return false;
    if (rate > b->cfg.max_bps) rate = b->cfg.max_bps;
    if (rate <= 1.1 * b->target_bps) return false;

    cluster_t *prev = cluster_by_id(b, b->active);
    if (prev) prev->closed = true;
    uint16_t id = b->next_cluster++;
    if (b->next_cluster == 0) b->next_cluster = 1;
    cluster_t *c = &b->cl[id % NCLUSTERS];
    memset(c, 0, sizeof *c);
    c->id = id;
    c->used = true;
    c->rate = rate;
    c->start_us = now;
    b->active = id;
    b->next_periodic_us = now + PROBE_PERIOD_US;
    b->n_probes++;
    *rate_bps = (uint32_t)rate;
    return true;
}

/* --- inputs ---------------------------------------------------------------------- */

void hc_bwe_on_sent(hc_bwe_t *b, uint16_t seq, size_t bytes, uint64_t send_us, bool probe)
{
    if (!b) return;
    int64_t ext = hc_seq_unwrap(&b->su, seq);
    rec_t *r = &b->hist[seq & b->mask];
    r->send_us = send_us;
    r->ext = ext;
    r->bytes = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
    r->flags = REC_SENT | (b->outage ? REC_NOLOSS : 0);
    r->cluster = 0;

    cluster_t *c = cluster_by_id(b, b->active);
    if (c && (c->closed || send_us - c->start_us > PROBE_ATTACH_US)) c = NULL;
    if (probe && c) {
        r->cluster = c->id;
        if (c->sent_pkts == 0) c->first_send = send_us;
        c->sent_pkts++;
        c->sent_bytes += r->bytes;
        c->last_send = send_us;
        c->last_send_bytes = r->bytes;
    } else if (!probe && c && c->sent_pkts) {
        c->closed = true;
        b->active = 0;
    }

    if (!b->any_sent) b->first_sent_us = send_us;
    if (!b->any_sent || ext > b->last_sent_ext) b->last_sent_ext = ext;
    b->any_sent = true;
    b->last_sent_us = send_us;
    rb_add(&b->sent, (int64_t)send_us, (double)r->bytes, 0);
}

static void on_received(hc_bwe_t *b, rec_t *r, int64_t arr, uint64_t now, double *qmin,
                        double *qmax)
{
    int64_t owd = arr - (int64_t)r->send_us;
    base_update(b, r->send_us, owd);
    double q = (double)(owd - base_get(b, now)) / 1000.0;
    if (q < *qmin) *qmin = q;
    if (q > *qmax) *qmax = q;

    if (!b->have_arr) {
        b->have_arr = true;
        b->first_arr = b->last_arr = arr;
    }
    if (arr > b->last_arr) b->last_arr = arr;
    rb_add(&b->acked, arr, (double)r->bytes, 0);

    hc_bwe_delta_t d;
    if (hc_bwe_interarrival_add(&b->ia, r->send_us, arr, r->bytes, &d)) {
        double slope =
            hc_bwe_trend_update(&b->trend, d.arrival_ms, d.arrival_delta_ms - d.send_delta_ms);
        hc_bwe_usage_t u = hc_bwe_detector_update(&b->det, slope, b->trend.num_deltas,
                                                  d.send_delta_ms, d.arrival_ms);
        if (u == HC_BWE_OVERUSE) {
            b->last_overuse_us = now;
            b->ever_overuse = true;
        }
    }

    cluster_t *c = cluster_by_id(b, r->cluster);
    if (c && !c->evaluated) {
        c->reported++;
        c->recv_pkts++;
        c->recv_bytes += r->bytes;
        if (c->recv_pkts == 1 || arr < c->first_arr) {
            c->first_arr = arr;
            c->first_arr_bytes = r->bytes;
        }
        if (c->recv_pkts == 1 || arr > c->last_arr) c->last_arr = arr;
    }
}

int hc_bwe_on_feedback(hc_bwe_t *b, const hc_twcc_fb_t *hdr, const hc_twcc_pkt_t *pkts, size_t n,
                       uint64_t now)
{
    if (!b || !hdr || (!pkts && n) || n > INT32_MAX) return -HC_EINVAL;
    b->n_fb++;
    /* Reference time: 24 bits of 64 ms; only differences matter, taken
     * modulo 2^24 (see twcc.h). */
    if (!b->have_ref) {
        b->have_ref = true;
        b->ref_ext = hdr->ref_time;
    } else {
        int32_t d = (int32_t)(((uint32_t)hdr->ref_time - (uint32_t)b->last_ref) & 0xffffff);
        if (d >= 0x800000) d -= 0x1000000;
        b->ref_ext += d;
    }
    b->last_ref = hdr->ref_time;
    int64_t base_us = b->ref_ext * HC_TWCC_REF_US;

    if (b->outage) leave_outage(b, now);
    b->any_fb = true;
    b->last_fb_us = now;

    int matched = 0;
    double qmin = INFINITY, qmax = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        rec_t *r = find(b, pkts[i].seq);
        if (!r) {
            b->n_unknown++;
            continue;
        }
        matched++;
        if (!b->have_reported || r->ext > b->highest_reported) b->highest_reported = r->ext;
        b->have_reported = true;
        bool counted = !(r->flags & REC_NOLOSS);
        if (pkts[i].received) {
            if (r->flags & REC_RECV) continue;
            if (r->flags & REC_LOST) {
                if (counted) rb_add(&b->lossb, (int64_t)r->send_us, -1, 0);
            } else if (counted) {
                rb_add(&b->lossb, (int64_t)r->send_us, 0, 1);
            }
            r->flags = (uint8_t)((r->flags | REC_RECV) & ~REC_LOST);
            on_received(b, r, base_us + pkts[i].arrival_us, now, &qmin, &qmax);
        } else {
            if (r->flags & (REC_RECV | REC_LOST)) continue;
            r->flags |= REC_LOST;
            if (counted) {
                rb_add(&b->lossb, (int64_t)r->send_us, 1, 1);
                r->flags |= REC_FRESH;
            }
            cluster_t *c = cluster_by_id(b, r->cluster);
            if (c && !c->evaluated) c->reported++;
        }
    }
    if (qmin != INFINITY) b->qdelay_ms = qmin < 0 ? 0 : qmin;
    /* Hillcast: a drop-tail queue loses packets when it is full, so a loss
     * among packets that waited long is the queue's; a loss among packets
     * that went straight through is the radio's. */
    bool cong = qmax != -INFINITY ? qmax > QD_CONGESTED_MS : b->qdelay_ms > QD_CONGESTED_MS;
    for (size_t i = 0; i < n; i++) {
        rec_t *r = find(b, pkts[i].seq);
        if (r && (r->flags & REC_FRESH)) {
            r->flags &= (uint8_t)~REC_FRESH;
            if (cong) rb_add(&b->closs, (int64_t)r->send_us, 1, 0);
        }
    }

    rate_control(b, now);
    probe_check(b, now);
    loss_control(b, now);
    update_target(b);
    return matched;
}

void hc_bwe_on_rtt(hc_bwe_t *b, uint32_t rtt_us)
{
    if (!b || rtt_us == 0) return;
    b->rtt_us = rtt_us;
}

void hc_bwe_on_rr_loss(hc_bwe_t *b, uint8_t fraction_lost, uint32_t packets, uint64_t now)
{
    if (!b || packets == 0) return;
    b->rr_loss = fraction_lost / 256.0;
    b->rr_us = now;
    b->have_rr = true;
}

void hc_bwe_tick(hc_bwe_t *b, uint64_t now)
{
    if (!b) return;
    outage_tick(b, now);
    probe_check(b, now);
    if (!b->outage) loss_control(b, now);
    update_target(b);
}

/* --- outputs --------------------------------------------------------------------- */

void hc_bwe_set_bursty(hc_bwe_t *b, bool on)
{
    if (b) b->bursty = on;
}

void hc_bwe_request_probe(hc_bwe_t *b, uint32_t rate_bps)
{
    if (b && rate_bps > b->asked_bps) b->asked_bps = rate_bps;
}

uint32_t hc_bwe_target_bps(const hc_bwe_t *b)
{
    return b ? (uint32_t)b->target_bps : 0;
}

static uint32_t to_u32(double v)
{
    if (!(v > 0)) return 0;
    if (v >= 4294967295.0) return UINT32_MAX;
    return (uint32_t)v;
}

void hc_bwe_state(const hc_bwe_t *b, hc_bwe_state_t *st)
{
    if (!b || !st) return;
    memset(st, 0, sizeof *st);
    st->target_bps = to_u32(b->target_bps);
    st->delay_bps = to_u32(b->delay_bps);
    st->loss_bps = to_u32(b->lossc.bound_bps);
    double a;
    st->acked_bps = acked_rate(b, ACKED_WIN, &a) ? to_u32(a) : 0;
    st->probe_bps = to_u32(b->probe_result);
    st->usage = b->det.usage;
    st->trend_ms = b->det.modified_trend;
    st->threshold_ms = b->det.threshold_ms;
    st->qdelay_us = to_u32(b->qdelay_ms * 1000.0);
    st->loss = b->loss;
    st->loss_congestive = b->lossc.congestive;
    st->rtt_us = b->rtt_us;
    st->outage = b->outage;
    st->feedbacks = b->n_fb;
    st->unknown = b->n_unknown;
    st->probes = b->n_probes;
    st->probes_valid = b->n_probes_valid;
    st->overuses = b->n_overuse;
}
