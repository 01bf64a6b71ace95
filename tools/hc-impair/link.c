#include "tools/hc-impair/link.h"

#include "proto/err.h"
#include "tools/hc-impair/rng.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct ring {
    hc_imp_pkt_t *e;
    size_t mask, head, n;
} ring_t;

typedef struct held {
    hc_imp_pkt_t p;
    uint32_t gap;    /* later packets still to leave before release; 0 = by time only */
    uint32_t passed; /* later packets that left before it */
    uint64_t t_rel;
} held_t;

struct hc_imp_link {
    hc_imp_pool_t *pool;
    /* one stream per decision: reproducible whatever the polling pattern */
    hc_imp_rng_t r_loss, r_ge, r_dup, r_jit, r_reo;

    uint64_t delay_us, jitter_us;
    bool jitter_normal;
    double loss;
    bool ge_on, ge_bad;
    double ge_p, ge_r, ge_k, ge_h;
    double dup, reorder;
    uint32_t reorder_gap;
    uint64_t reorder_delay_us;

    uint64_t rate_bps;
    uint64_t queue_cfg_bytes, queue_cfg_us, q_limit;
    const hc_mmtrace_t *trace;
    double scale;
    uint32_t opp_bytes;
    uint64_t tr_base_us;
    size_t tr_idx;

    uint64_t out_start, out_end;

    ring_t q;           /* rate / trace queue */
    uint64_t q_bytes;   /* bytes in q, including the packet in service */
    uint64_t busy_ns;   /* rate mode: when the last packet finished */
    uint32_t head_sent; /* trace mode: bytes of the head already sent */

    ring_t d;        /* delay line, exit times non-decreasing */
    uint64_t d_last; /* exit time of the last packet put in d */
    held_t held[HC_IMP_HELD_MAX];
    size_t nheld;

    uint64_t now_last;
    hc_imp_stats_t st;
};

static int ring_init(ring_t *r, size_t cap)
{
    size_t n = 1;
    while (n < cap) n <<= 1;
    r->e = calloc(n, sizeof *r->e);
    if (!r->e) return -HC_ENOMEM;
    r->mask = n - 1;
    r->head = r->n = 0;
    return 0;
}

static bool ring_full(const ring_t *r)
{
    return r->n > r->mask;
}
static hc_imp_pkt_t *ring_front(const ring_t *r)
{
    return &r->e[r->head];
}
static void ring_push(ring_t *r, const hc_imp_pkt_t *p)
{
    r->e[(r->head + r->n) & r->mask] = *p;
    r->n++;
}
static hc_imp_pkt_t ring_pop(ring_t *r)
{
    hc_imp_pkt_t p = r->e[r->head];
    r->head = (r->head + 1) & r->mask;
    r->n--;
    return p;
}

int hc_imp_link_new(hc_imp_link_t **out, size_t cap, uint64_t seed, hc_imp_pool_t *pool,
                    uint64_t now)
{
    if (!out || cap == 0 || cap > (1u << 24)) return -HC_EINVAL;
    hc_imp_link_t *l = calloc(1, sizeof *l);
    if (!l) return -HC_ENOMEM;
    if (ring_init(&l->q, cap) < 0 || ring_init(&l->d, cap) < 0) {
        free(l->q.e);
        free(l);
        return -HC_ENOMEM;
    }
    l->pool = pool;
    hc_imp_rng_seed(&l->r_loss, seed, 1);
    hc_imp_rng_seed(&l->r_ge, seed, 2);
    hc_imp_rng_seed(&l->r_dup, seed, 3);
    hc_imp_rng_seed(&l->r_jit, seed, 4);
    hc_imp_rng_seed(&l->r_reo, seed, 5);
    l->reorder_gap = HC_IMP_DEFAULT_REORDER_GAP;
    l->reorder_delay_us = HC_IMP_DEFAULT_REORDER_DELAY_US;
    l->ge_k = 1.0;
    l->scale = 1.0;
    l->opp_bytes = 1500;
    l->queue_cfg_us = HC_IMP_DEFAULT_QUEUE_US;
    l->now_last = now;
    l->d_last = now;
    l->busy_ns = now * 1000;
    *out = l;
    return 0;
}

static void put_slot(hc_imp_link_t *l, uint32_t slot)
{
    if (l->pool) hc_imp_pool_put(l->pool, slot);
}

void hc_imp_link_destroy(hc_imp_link_t **lp)
{
    if (!lp || !*lp) return;
    hc_imp_link_t *l = *lp;
    while (l->q.n) put_slot(l, ring_pop(&l->q).slot);
    while (l->d.n) put_slot(l, ring_pop(&l->d).slot);
    for (size_t i = 0; i < l->nheld; i++) put_slot(l, l->held[i].p.slot);
    free(l->q.e);
    free(l->d.e);
    free(l);
    *lp = NULL;
}

int hc_imp_link_down(const hc_imp_link_t *l, uint64_t t)
{
    return t >= l->out_start && t < l->out_end;
}

static void drop(hc_imp_link_t *l, uint32_t slot, hc_imp_drop_t why)
{
    l->st.drop[why]++;
    put_slot(l, slot);
}

/* Stage 6: propagation delay and jitter, order kept. */
static void to_delay(hc_imp_link_t *l, hc_imp_pkt_t p, uint64_t dep)
{
    if (hc_imp_link_down(l, dep)) {
        drop(l, p.slot, HC_IMP_DROP_OUTAGE);
        return;
    }
    uint64_t j = 0;
    if (l->jitter_us) {
        double J = (double)l->jitter_us;
        double x;
        if (l->jitter_normal) {
            x = J / 2 + J / 6 * hc_imp_rng_normal(&l->r_jit);
            if (x < 0) x = 0;
            if (x > J) x = J;
            j = (uint64_t)llround(x);
        } else {
            j = (uint64_t)(hc_imp_rng_unit(&l->r_jit) * (J + 1)); /* 0..J inclusive */
            if (j > l->jitter_us) j = l->jitter_us;
        }
    }
    uint64_t t = dep + l->delay_us + j;
    if (t < l->d_last) t = l->d_last; /* a link does not reorder by itself */
    if (ring_full(&l->d)) {
        drop(l, p.slot, HC_IMP_DROP_NOBUF);
        return;
    }
    l->d_last = t;
    p.t_out = t;
    ring_push(&l->d, &p);
}

static void depart_queue(hc_imp_link_t *l, uint64_t dep)
{
    hc_imp_pkt_t p = ring_pop(&l->q);
    l->q_bytes -= p.len;
    hc_imp_hist_add(&l->st.qdelay_us, dep - p.t_in);
    to_delay(l, p, dep);
}

static uint64_t ser_ns(const hc_imp_link_t *l, uint32_t len)
{
    return (uint64_t)len * 8u * 1000000000u / l->rate_bps;
}

static uint64_t head_finish_ns(const hc_imp_link_t *l)
{
    const hc_imp_pkt_t *h = ring_front(&l->q);
    uint64_t start = h->t_in * 1000;
    if (start < l->busy_ns) start = l->busy_ns;
    return start + ser_ns(l, h->len);
}

static void advance_rate(hc_imp_link_t *l, uint64_t now)
{
    while (l->q.n) {
        uint64_t fin = head_finish_ns(l);
        if (fin > now * 1000) break;
        l->busy_ns = fin;
        depart_queue(l, (fin + 999) / 1000);
    }
}

static uint64_t opp_time(const hc_imp_link_t *l)
{
    return l->tr_base_us + (uint64_t)l->trace->ms[l->tr_idx] * 1000;
}

static void opp_next(hc_imp_link_t *l)
{
    if (++l->tr_idx == l->trace->n) {
        l->tr_idx = 0;
        l->tr_base_us += l->trace->period_ms * 1000;
    }
}

static void advance_trace(hc_imp_link_t *l, uint64_t now)
{
    uint64_t period_us = l->trace->period_ms * 1000;
    while (l->q.n) {
        uint64_t t = opp_time(l);
        if (t > now) break;
        uint64_t t_in = ring_front(&l->q)->t_in;
        if (t < t_in) {
            /* Opportunities while the queue was empty are lost; skip whole
             * loops at once after a long idle time. */
            if (t_in - t > period_us)
                l->tr_base_us += (t_in - t) / period_us * period_us;
            else
                opp_next(l);
            continue;
        }
        uint32_t budget = l->opp_bytes;
        while (l->q.n) {
            hc_imp_pkt_t *h = ring_front(&l->q);
            if (h->t_in > t) break;
            uint32_t need = h->len - l->head_sent;
            if (need > budget) {
                l->head_sent += budget;
                break;
            }
            budget -= need;
            l->head_sent = 0;
            depart_queue(l, t);
        }
        opp_next(l);
    }
}

static void advance(hc_imp_link_t *l, uint64_t now)
{
    if (now < l->now_last) now = l->now_last;
    l->now_last = now;
    if (l->rate_bps)
        advance_rate(l, now);
    else if (l->trace)
        advance_trace(l, now);
}

static void update_limit(hc_imp_link_t *l)
{
    if (l->queue_cfg_bytes) {
        l->q_limit = l->queue_cfg_bytes;
        return;
    }
    double bps = 0;
    if (l->rate_bps)
        bps = (double)l->rate_bps;
    else if (l->trace)
        bps = hc_mmtrace_mean_bps(l->trace, l->scale);
    l->q_limit = (uint64_t)(bps * (double)l->queue_cfg_us / 8e6);
}

void hc_imp_link_apply(hc_imp_link_t *l, const hc_imp_spec_t *s, uint64_t now)
{
    advance(l, now);
    now = l->now_last;
    uint32_t set = s->set;
    bool was_rate = l->rate_bps != 0;
    if (set & HC_IMP_SET_DELAY) l->delay_us = s->delay_us;
    if (set & HC_IMP_SET_JITTER) l->jitter_us = s->jitter_us;
    if (set & HC_IMP_SET_JITTER_DIST) l->jitter_normal = s->jitter_normal;
    if (set & HC_IMP_SET_LOSS) l->loss = s->loss;
    if (set & HC_IMP_SET_GE) {
        if (!s->ge_on || !l->ge_on) l->ge_bad = false;
        l->ge_on = s->ge_on;
        l->ge_p = s->ge_p;
        l->ge_r = s->ge_r;
        l->ge_k = s->ge_k;
        l->ge_h = s->ge_h;
    }
    if (set & HC_IMP_SET_DUP) l->dup = s->dup;
    if (set & HC_IMP_SET_REORDER) l->reorder = s->reorder;
    if (set & HC_IMP_SET_REORDER_GAP) l->reorder_gap = s->reorder_gap;
    if (set & HC_IMP_SET_REORDER_DELAY) l->reorder_delay_us = s->reorder_delay_us;
    if (set & HC_IMP_SET_SCALE) {
        l->scale = s->scale;
        double b = 1500.0 * s->scale;
        l->opp_bytes = b < 1 ? 1 : (uint32_t)llround(b);
    }
    if (set & HC_IMP_SET_RATE) {
        l->rate_bps = s->rate_bps;
        if (l->rate_bps) l->trace = NULL; /* a rate replaces a trace */
        l->head_sent = 0;
    }
    if (set & HC_IMP_SET_TRACE) {
        l->trace = s->trace;
        if (l->trace) {
            l->rate_bps = 0;
            l->tr_base_us = now; /* replay starts when the trace is applied */
            l->tr_idx = 0;
        }
        l->head_sent = 0;
    }
    if (l->rate_bps && !was_rate) {
        /* the head starts its service now, not when it arrived */
        if (l->busy_ns < now * 1000) l->busy_ns = now * 1000;
    }
    if (set & HC_IMP_SET_QUEUE) {
        l->queue_cfg_bytes = s->queue_bytes;
        l->queue_cfg_us = s->queue_bytes ? 0 : s->queue_us;
    }
    update_limit(l);
    if (set & HC_IMP_SET_OUTAGE) {
        if (hc_imp_link_down(l, now)) {
            if (now + s->outage_us > l->out_end) l->out_end = now + s->outage_us;
        } else {
            l->out_start = now;
            l->out_end = now + s->outage_us;
        }
    }
    if (!l->rate_bps && !l->trace) {
        /* no bottleneck any more: what was queued leaves now */
        while (l->q.n) depart_queue(l, now);
        l->head_sent = 0;
    }
}

/* Stage 5 (or straight to 6 without a bottleneck). True if it was kept. */
static bool enqueue(hc_imp_link_t *l, uint64_t now, hc_imp_pkt_t p)
{
    if (!l->rate_bps && !l->trace) {
        uint64_t before = l->d.n;
        to_delay(l, p, now);
        return l->d.n > before;
    }
    if (ring_full(&l->q)) {
        drop(l, p.slot, HC_IMP_DROP_NOBUF);
        return false;
    }
    if (l->q.n && l->q_bytes + p.len > l->q_limit) {
        drop(l, p.slot, HC_IMP_DROP_QUEUE);
        return false;
    }
    ring_push(&l->q, &p);
    l->q_bytes += p.len;
    return true;
}

int hc_imp_link_submit(hc_imp_link_t *l, uint64_t now, uint32_t slot, uint32_t len)
{
    advance(l, now);
    now = l->now_last;
    l->st.pkts_in++;
    l->st.bytes_in += len;
    if (hc_imp_link_down(l, now)) {
        drop(l, slot, HC_IMP_DROP_OUTAGE);
        return 0;
    }
    if (l->loss > 0 && hc_imp_rng_chance(&l->r_loss, l->loss)) {
        drop(l, slot, HC_IMP_DROP_LOSS);
        return 0;
    }
    if (l->ge_on) {
        /* state moves first, then the packet meets the state's loss */
        if (l->ge_bad) {
            if (hc_imp_rng_chance(&l->r_ge, l->ge_r)) l->ge_bad = false;
        } else {
            if (hc_imp_rng_chance(&l->r_ge, l->ge_p)) l->ge_bad = true;
        }
        double lp = l->ge_bad ? 1.0 - l->ge_h : 1.0 - l->ge_k;
        if (hc_imp_rng_chance(&l->r_ge, lp)) {
            drop(l, slot, HC_IMP_DROP_BURST);
            return 0;
        }
    }
    hc_imp_pkt_t p = {.slot = slot, .len = len, .t_in = now, .t_out = 0};
    bool kept = false;
    if (l->dup > 0 && hc_imp_rng_chance(&l->r_dup, l->dup)) {
        if (l->pool) hc_imp_pool_ref(l->pool, slot);
        l->st.duplicated++;
        kept = enqueue(l, now, p);
    }
    kept = enqueue(l, now, p) || kept;
    return kept ? 1 : 0;
}

static void remove_held(hc_imp_link_t *l, size_t i)
{
    l->held[i] = l->held[--l->nheld];
}

int hc_imp_link_poll(hc_imp_link_t *l, uint64_t now, hc_imp_pkt_t *out)
{
    advance(l, now);
    now = l->now_last;
    for (;;) {
        size_t hi = SIZE_MAX;
        uint64_t ht = UINT64_MAX;
        for (size_t i = 0; i < l->nheld; i++)
            if (l->held[i].t_rel < ht) ht = l->held[i].t_rel, hi = i;
        bool have_d = l->d.n && ring_front(&l->d)->t_out <= now;
        bool have_h = hi != SIZE_MAX && ht <= now;
        if (!have_d && !have_h) return 0;
        hc_imp_pkt_t p;
        if (have_h && (!have_d || ht <= ring_front(&l->d)->t_out)) {
            p = l->held[hi].p;
            p.t_out = ht;
            bool overtaken = l->held[hi].passed > 0;
            remove_held(l, hi);
            if (hc_imp_link_down(l, p.t_out)) {
                drop(l, p.slot, HC_IMP_DROP_OUTAGE);
                continue;
            }
            if (overtaken) l->st.reordered++;
        } else {
            p = ring_pop(&l->d);
            if (hc_imp_link_down(l, p.t_out)) {
                drop(l, p.slot, HC_IMP_DROP_OUTAGE);
                continue;
            }
            if (l->reorder > 0 && hc_imp_rng_chance(&l->r_reo, l->reorder) &&
                l->nheld < HC_IMP_HELD_MAX) {
                held_t *h = &l->held[l->nheld++];
                h->p = p;
                h->gap = l->reorder_gap;
                h->passed = 0;
                h->t_rel = p.t_out + l->reorder_delay_us;
                continue;
            }
            for (size_t i = 0; i < l->nheld; i++) {
                held_t *h = &l->held[i];
                h->passed++;
                if (h->gap && --h->gap == 0 && h->t_rel > p.t_out) h->t_rel = p.t_out;
            }
        }
        l->st.pkts_out++;
        l->st.bytes_out += p.len;
        *out = p;
        return 1;
    }
}

uint64_t hc_imp_link_next(const hc_imp_link_t *l)
{
    uint64_t t = UINT64_MAX;
    if (l->q.n) {
        uint64_t q = UINT64_MAX;
        if (l->rate_bps)
            q = (head_finish_ns(l) + 999) / 1000;
        else if (l->trace)
            q = opp_time(l);
        if (q < t) t = q;
    }
    if (l->d.n && ring_front(&l->d)->t_out < t) t = ring_front(&l->d)->t_out;
    for (size_t i = 0; i < l->nheld; i++)
        if (l->held[i].t_rel < t) t = l->held[i].t_rel;
    return t;
}

hc_imp_stats_t *hc_imp_link_stats(hc_imp_link_t *l)
{
    return &l->st;
}

uint64_t hc_imp_link_inflight(const hc_imp_link_t *l)
{
    return l->q.n + l->d.n + l->nheld;
}

uint64_t hc_imp_link_queue_bytes(const hc_imp_link_t *l)
{
    return l->q_bytes;
}

uint64_t hc_imp_link_queue_limit(const hc_imp_link_t *l)
{
    return (l->rate_bps || l->trace) ? l->q_limit : 0;
}
