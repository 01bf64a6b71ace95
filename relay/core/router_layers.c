/* router_layers.c - downlink adaptation (added by downlink layers): a
 * send-side bandwidth estimator per subscriber leg that receives a layered
 * track, probe clusters, and the choice among a track's simulcast layers;
 * see router.h (hc_router_track_set_layers) and router_int.h.
 *
 * Estimator: proto/bwe.h, one per leg, since the transport-wide sequence
 * numbers the router writes toward a subscriber are one series per leg
 * (router_rtp.c renumbers the extension). Every packet that carries one
 * (media, RTX, probe padding) is recorded with its SRTP size plus UDP/IP
 * headers; FlexFEC repair packets carry no number, so their bytes are
 * counted in the allocation instead (a track's layer must fit with its
 * FEC overhead). The subscriber's feedback, its receiver reports' loss
 * and the leg's RTT feed it; a timer ticks it every 100 ms and runs the
 * layer decisions.
 *
 * Probing: the estimator can only confirm rates the leg sends, and a
 * subscriber on the low layer sends too little to show that the high one
 * would fit. When hc_bwe_probe_wanted() asks, the leg sends a cluster for
 * HC_BWE_PROBE_US at the asked rate: every packet sent on the leg in that
 * time counts as probe, and RFC 4588 retransmissions of the newest packets
 * of a video track (useful redundancy, the same padding hc-edge uses) fill
 * the rest, paced every RT_PROBE_GAP_US. The estimator asks by itself only
 * while the leg sends near its estimate; a leg held on a lower layer sends
 * less, so the layer choice asks for a probe at the rate the step up would
 * need (hc_bwe_request_probe), every RT_LAYER_PROBE_US at first and half as
 * often after each probe that did not show the room (at most every 40 s).
 */
#include "relay/core/router_int.h"

#include "proto/err.h"
#include "proto/rtcp.h"
#include "proto/twcc.h"

#include <stdlib.h>
#include <string.h>

/* ---- estimator ---- */

static void bwe_tick_fn(hc_loop_t *loop, hc_timer_t *tm, void *ud);
static void probe_fn(hc_loop_t *loop, hc_timer_t *tm, void *ud);

static rt_leg_bwe_t *leg_bwe(hc_router_t *r, hc_leg_t *leg)
{
    if (leg->bwe) return leg->bwe;
    rt_leg_bwe_t *lb = calloc(1, sizeof(*lb));
    if (!lb) return NULL;
    hc_bwe_cfg_t cfg;
    hc_bwe_cfg_default(&cfg);
    cfg.history = r->cfg.bwe_history ? r->cfg.bwe_history : RT_BWE_HISTORY;
    cfg.start_bps = RT_BWE_START_BPS;
    uint64_t now = rt_now(r);
    if (hc_bwe_new(&lb->bwe, &cfg, now) < 0) {
        free(lb);
        return NULL;
    }
    lb->last_target = hc_bwe_target_bps(lb->bwe);
    leg->bwe = lb;
    hc_timer_start(r->loop, &lb->tick, now + RT_BWE_TICK_US, bwe_tick_fn, leg);
    return lb;
}

void rt_leg_bwe_free(hc_leg_t *leg)
{
    rt_leg_bwe_t *lb = leg->bwe;
    if (!lb) return;
    hc_timer_stop(&lb->tick);
    hc_timer_stop(&lb->probe_timer);
    hc_bwe_destroy(&lb->bwe);
    free(lb);
    leg->bwe = NULL;
}

void rt_bwe_sent(hc_router_t *r, hc_leg_t *leg, uint16_t seq, size_t bytes, uint64_t now)
{
    (void)r;
    rt_leg_bwe_t *lb = leg->bwe;
    size_t wire = bytes + RT_WIRE_OVERHEAD;
    if (lb->probing) {
        lb->probe_bytes += wire;
        lb->probe_pkts++;
    }
    hc_bwe_on_sent(lb->bwe, seq, wire, now, lb->probing);
}

static void note_target(rt_leg_bwe_t *lb, uint64_t now)
{
    uint32_t tgt = hc_bwe_target_bps(lb->bwe);
    /* A falling estimate means the loss now is the queue's. */
    if (tgt < lb->last_target - lb->last_target / 20) lb->falling_until = now + 1000000;
    lb->last_target = tgt;
}

void rt_bwe_feedback(hc_router_t *r, hc_leg_t *leg, const uint8_t *fci, size_t len, uint64_t now)
{
    hc_twcc_fb_t hdr;
    size_t n = 0;
    if (hc_twcc_parse(fci, len, &hdr, r->fbpkts, RT_BWE_FB_MAX, &n) < 0) return;
    leg->bwe->fb_packets++;
    (void)hc_bwe_on_feedback(leg->bwe->bwe, &hdr, r->fbpkts, n, now);
    note_target(leg->bwe, now);
}

static void layers_switch(hc_router_t *r, hc_track_t *t, int j, uint64_t now);
static int layers_lower(const rt_layers_t *L, int from, uint64_t now);

/* A step up that did not hold (its trial ends in a step down): the next
 * one waits twice as long, up to RT_LAYER_UP_MAX_US. */
static void trial_failed(rt_layers_t *L)
{
    L->failed_ups++;
    L->up_wait_us *= 2;
    if (L->up_wait_us > RT_LAYER_UP_MAX_US) L->up_wait_us = RT_LAYER_UP_MAX_US;
    L->trial_until = 0;
}

void rt_bwe_report(hc_router_t *r, hc_track_t *t, const void *rbp, uint64_t now)
{
    hc_leg_t *leg = t->leg;
    const hc_rtcp_rb_t *rb = rbp;
    uint32_t packets =
        t->rr_ext && rb->ext_highest_seq > t->rr_ext ? rb->ext_highest_seq - t->rr_ext : 0;
    t->rr_ext = rb->ext_highest_seq;
    rt_leg_bwe_t *lb = leg->bwe;
    if (!lb) return;
    if (leg->rtt_us) hc_bwe_on_rtt(lb->bwe, leg->rtt_us);
    if (packets) hc_bwe_on_rr_loss(lb->bwe, rb->fraction_lost, packets, now);
    rt_layers_t *L = t->lay;
    /* A report covers the last second: one that still describes the time
     * before the last switch says nothing about the layer now. */
    if (L && L->cur >= 0 && t->loss > RT_LAYER_LOSS_DOWN && now - L->settled_since >= 1500000 &&
        L->pend < 0) {
        int j = layers_lower(L, L->cur, now);
        if (j > L->cur) {
            if (L->trial_until) trial_failed(L);
            L->downs++;
            L->up_ok_since = 0;
            layers_switch(r, t, j, now);
        }
    }
}

bool rt_bwe_congested(const hc_leg_t *leg, uint64_t now)
{
    if (!leg->bwe) return false;
    hc_bwe_state_t st;
    hc_bwe_state(leg->bwe->bwe, &st);
    return st.usage == HC_BWE_OVERUSE || st.loss_congestive || st.qdelay_us > 40000 ||
           now < leg->bwe->falling_until;
}

/* ---- probing ---- */

static hc_track_t *probe_track(hc_leg_t *leg)
{
    for (hc_track_t *t = leg->tracks; t; t = t->next_in_leg)
        if (t->kind == HC_MEDIA_VIDEO && t->src && t->epoch && t->have_out && t->rtx_ssrc) return t;
    return NULL;
}

static void probe_fn(hc_loop_t *loop, hc_timer_t *tm, void *ud)
{
    hc_leg_t *leg = ud;
    hc_router_t *r = leg->r;
    rt_leg_bwe_t *lb = leg->bwe;
    uint64_t now = hc_loop_now_us(loop);
    uint64_t el = now - lb->probe_start;
    hc_track_t *t = probe_track(leg);
    uint64_t due = (uint64_t)lb->probe_bps * (el + RT_PROBE_GAP_US) / 8000000u;
    int fails = 0;
    while (t && leg->has_addr && lb->probe_bytes < due && fails < 16) {
        uint16_t oseq = (uint16_t)(t->last_out_seq - lb->probe_back);
        lb->probe_back = (uint8_t)((lb->probe_back + 1) % 16);
        uint64_t before = lb->probe_pkts;
        if (!rt_send_rtx(r, t, oseq, now) || lb->probe_pkts == before) fails++;
    }
    if ((el >= HC_BWE_PROBE_US && lb->probe_pkts >= HC_BWE_PROBE_MIN_PKTS) || fails >= 16 || !t ||
        el > 4 * HC_BWE_PROBE_US) {
        lb->probing = false;
        return;
    }
    hc_timer_start(loop, tm, now + RT_PROBE_GAP_US, probe_fn, leg);
}

/* ---- layer choice ---- */

static bool layer_live(const rt_layers_t *L, int i, uint64_t now)
{
    const hc_instream_t *s = L->in[i];
    return s && s->last_rx_us && now - s->last_rx_us < RT_LAYER_STALE_US;
}

/* What forwarding layer i costs on the leg: its bitrate with SRTP, UDP/IP
 * and the track's FEC overhead. */
static double layer_need(const rt_layers_t *L, int i, uint64_t now)
{
    const hc_track_t *t = L->t;
    double fec = t->fec && t->fec->k ? 1.0 / t->fec->k : 0;
    return rt_rate_now(&L->in[i]->rate, now) * 1.05 * (1 + fec);
}

static double leg_avail(const hc_track_t *t, uint64_t now)
{
    double est = hc_bwe_target_bps(t->leg->bwe->bwe);
    for (const hc_track_t *o = t->leg->tracks; o; o = o->next_in_leg)
        if (o != t) est -= rt_rate_now(&o->rate, now);
    return est;
}

/* The highest live layer whose bitrate is known and fits avail, else the
 * lowest live one, else -1. */
static int layers_pick(const rt_layers_t *L, double avail, uint64_t now)
{
    int lowest = -1;
    for (int i = 0; i < L->n; i++) {
        if (!layer_live(L, i, now)) continue;
        double need = layer_need(L, i, now);
        if (need > 0 && need <= avail) return i;
        lowest = i;
    }
    return lowest;
}

/* The next live layer below `from`, or from itself when there is none. */
static int layers_lower(const rt_layers_t *L, int from, uint64_t now)
{
    for (int i = from + 1; i < L->n; i++)
        if (layer_live(L, i, now)) return i;
    return from;
}

static void pend_unlink(rt_layers_t *L)
{
    if (L->pend < 0) return;
    hc_instream_t *s = L->in[L->pend];
    if (L->pend_prev)
        L->pend_prev->pend_next = L->pend_next;
    else
        s->pending = L->pend_next;
    if (L->pend_next) L->pend_next->pend_prev = L->pend_prev;
    L->pend_prev = L->pend_next = NULL;
    L->pend = -1;
}

/* Head for layer j: at once when nothing is forwarded, else keep the
 * current layer until j's keyframe (rt_layers_promote). */
static void layers_switch(hc_router_t *r, hc_track_t *t, int j, uint64_t now)
{
    rt_layers_t *L = t->lay;
    if (j == L->pend) return;
    pend_unlink(L);
    L->settled_since = now;
    if (j < 0 || j == L->cur) return;
    hc_instream_t *s = L->in[j];
    if (!t->src || t->kind != HC_MEDIA_VIDEO) {
        rt_track_unlink(t);
        t->epoch = false;
        t->wait_kf = t->kind == HC_MEDIA_VIDEO;
        t->switching = true;
        rt_track_link(t, s);
        L->cur = (int8_t)j;
        if (t->wait_kf) rt_keyframe_request(r, s, false, now);
        return;
    }
    L->pend = (int8_t)j;
    L->pend_prev = NULL;
    L->pend_next = s->pending;
    if (s->pending) s->pending->pend_prev = L;
    s->pending = L;
    rt_keyframe_request(r, s, false, now);
}

void rt_layers_promote(hc_router_t *r, hc_instream_t *s)
{
    uint64_t now = rt_now(r);
    while (s->pending) {
        rt_layers_t *L = s->pending;
        hc_track_t *t = L->t;
        int j = L->pend;
        pend_unlink(L);
        rt_track_unlink(t);
        /* The epoch starts with this keyframe: next sequence number, no gap. */
        t->epoch = false;
        t->wait_kf = false;
        t->switching = true;
        rt_track_link(t, s);
        L->cur = (int8_t)j;
        L->settled_since = now;
    }
}

static void layers_decide(hc_router_t *r, hc_track_t *t, const hc_bwe_state_t *st, uint64_t now)
{
    rt_layers_t *L = t->lay;
    if (L->n == 0) return;
    int at = L->pend >= 0 ? L->pend : L->cur;
    double avail = leg_avail(t, now);
    if (at < 0 || !layer_live(L, at, now)) {
        /* Nothing chosen yet, or its publisher went quiet: skip it. */
        int j = layers_pick(L, avail, now);
        if (j >= 0 && j != at) layers_switch(r, t, j, now);
        L->up_ok_since = 0;
        return;
    }
    bool cong =
        st->usage == HC_BWE_OVERUSE || st->qdelay_us > RT_LAYER_QDELAY_US || st->loss_congestive;
    if (L->trial_until && now < L->trial_until && cong) {
        /* The step up did not fit after all: back at once, wait longer. */
        trial_failed(L);
        L->up_ok_since = 0;
        int j = L->trial_from > at && layer_live(L, L->trial_from, now) ? L->trial_from
                                                                        : layers_lower(L, at, now);
        if (j != at) {
            L->downs++;
            layers_switch(r, t, j, now);
        }
        return;
    }
    if (L->trial_until && now >= L->trial_until) L->trial_until = 0;
    if (!L->trial_until && L->up_wait_us > RT_LAYER_UP_WAIT_US &&
        now - L->settled_since >= RT_LAYER_SETTLE_US)
        L->up_wait_us = RT_LAYER_UP_WAIT_US;
    if (avail < layer_need(L, at, now)) {
        int j = -1;
        for (int i = at + 1; i < L->n; i++) {
            if (!layer_live(L, i, now)) continue;
            j = i;
            if (layer_need(L, i, now) <= avail) break;
        }
        if (j > at) {
            if (L->trial_until) trial_failed(L);
            L->downs++;
            layers_switch(r, t, j, now);
        }
        L->up_ok_since = 0;
        return;
    }
    int u = -1;
    for (int i = at - 1; i >= 0; i--) {
        if (layer_live(L, i, now)) {
            u = i;
            break;
        }
    }
    double need_u = u >= 0 ? layer_need(L, u, now) : 0;
    if (u >= 0 && need_u > 0 && !cong && L->pend < 0 && avail < RT_LAYER_UP_MARGIN * need_u &&
        now >= L->next_probe_us) {
        /* The leg sends only the lower layer, so its estimate cannot show
         * room for the higher one: ask for a probe at the rate the step up
         * would need, less often each time it does not show it. */
        if (!L->probe_wait_us) L->probe_wait_us = RT_LAYER_PROBE_US;
        double want = (double)st->target_bps + (RT_LAYER_UP_MARGIN * need_u - avail);
        if (want > 0 && want < 4e9) hc_bwe_request_probe(t->leg->bwe->bwe, (uint32_t)want);
        if (L->next_probe_us) { /* the last one did not show it */
            L->probe_wait_us *= 2;
            if (L->probe_wait_us > RT_LAYER_UP_MAX_US) L->probe_wait_us = RT_LAYER_UP_MAX_US;
        }
        L->next_probe_us = now + L->probe_wait_us;
    }
    if (u >= 0 && need_u > 0 && !cong && L->pend < 0 && avail >= RT_LAYER_UP_MARGIN * need_u) {
        if (!L->up_ok_since) {
            L->up_ok_since = now;
        } else if (now - L->up_ok_since >= L->up_wait_us) {
            L->trial_from = (int8_t)at;
            L->trial_until = now + RT_LAYER_TRIAL_US;
            L->up_ok_since = 0;
            L->ups++;
            L->next_probe_us = L->probe_wait_us = 0;
            layers_switch(r, t, u, now);
        }
    } else {
        L->up_ok_since = 0;
    }
}

static void bwe_tick_fn(hc_loop_t *loop, hc_timer_t *tm, void *ud)
{
    hc_leg_t *leg = ud;
    hc_router_t *r = leg->r;
    rt_leg_bwe_t *lb = leg->bwe;
    uint64_t now = hc_loop_now_us(loop);
    hc_timer_start(loop, tm, now + RT_BWE_TICK_US, bwe_tick_fn, leg);
    hc_bwe_tick(lb->bwe, now);
    note_target(lb, now);
    hc_bwe_state_t st;
    hc_bwe_state(lb->bwe, &st);
    for (hc_track_t *t = leg->tracks; t; t = t->next_in_leg)
        if (t->lay) layers_decide(r, t, &st, now);
    uint32_t rate;
    if (!lb->probing && leg->has_addr && probe_track(leg) &&
        hc_bwe_probe_wanted(lb->bwe, now, &rate)) {
        lb->probing = true;
        lb->probe_bps = rate;
        lb->probe_start = now;
        lb->probe_bytes = 0;
        lb->probe_pkts = 0;
        lb->probe_back = 0;
        probe_fn(loop, &lb->probe_timer, leg);
    }
}

/* ---- control plane ---- */

void rt_layers_free(hc_router_t *r, hc_track_t *t)
{
    (void)r;
    rt_layers_t *L = t->lay;
    if (!L) return;
    pend_unlink(L);
    free(L);
    t->lay = NULL;
    hc_leg_t *leg = t->leg;
    if (leg->bwe && leg->bwe->layered && --leg->bwe->layered == 0) rt_leg_bwe_free(leg);
}

void rt_layers_instream_gone(hc_router_t *r, hc_instream_t *s)
{
    while (s->pending) pend_unlink(s->pending);
    for (uint32_t i = 0; i < r->cfg.max_tracks; i++) {
        hc_track_t *t = &r->trk[i];
        if (!t->used || !t->lay) continue;
        rt_layers_t *L = t->lay;
        int k = 0;
        for (int j = 0; j < L->n; j++) {
            if (L->in[j] == s) {
                if (L->cur == j) {
                    /* Unlinked here, so the group outlives its layer: the
                     * next decision picks another one. */
                    rt_track_unlink(t);
                    t->epoch = false;
                    L->cur = -1;
                } else if (L->cur > j) {
                    L->cur--;
                }
                if (L->pend > j) L->pend--;
                if (L->trial_from > j) L->trial_from--;
                continue;
            }
            L->in[k++] = L->in[j];
        }
        for (int j = k; j < L->n; j++) L->in[j] = NULL;
        L->n = (uint8_t)k;
    }
}

int hc_router_track_set_layers(hc_router_t *r, hc_track_t *t, hc_instream_t *const *layers,
                               size_t n)
{
    if (!r || !t || !t->used || n > RT_LAYERS_MAX || (n && !layers)) return -HC_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!layers[i] || !layers[i]->used || layers[i]->kind != t->kind) return -HC_EINVAL;
    if (n == 0) return hc_router_track_set_source(r, t, NULL);
    if (n == 1) return hc_router_track_set_source(r, t, layers[0]);
    rt_layers_t *L = t->lay;
    if (L && L->n == n && memcmp(L->in, layers, n * sizeof(*layers)) == 0) return 0;
    uint64_t now = rt_now(r);
    if (!L) {
        if (!leg_bwe(r, t->leg)) return -HC_ENOMEM;
        L = calloc(1, sizeof(*L));
        if (!L) {
            if (!t->leg->bwe->layered) rt_leg_bwe_free(t->leg);
            return -HC_ENOMEM;
        }
        L->t = t;
        L->cur = L->pend = L->trial_from = -1;
        L->up_wait_us = RT_LAYER_UP_WAIT_US;
        t->lay = L;
        t->leg->bwe->layered++;
    }
    pend_unlink(L);
    memset(L->in, 0, sizeof(L->in));
    memcpy(L->in, layers, n * sizeof(*layers));
    L->n = (uint8_t)n;
    L->cur = -1;
    L->trial_until = 0;
    L->up_ok_since = 0;
    for (size_t i = 0; i < n; i++)
        if (t->src == layers[i]) L->cur = (int8_t)i;
    if (L->cur >= 0) return 0;
    /* A new group (another publisher): what set_source does, toward the
     * layer the estimate allows now. */
    rt_track_unlink(t);
    t->epoch = false;
    t->wait_kf = false;
    t->switching = false;
    int j = layers_pick(L, leg_avail(t, now), now);
    layers_switch(r, t, j >= 0 ? j : (int)n - 1, now);
    return 0;
}
